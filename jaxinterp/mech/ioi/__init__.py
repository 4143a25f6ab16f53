"""The IOI circuit (Wang et al. 2022) on a pretrained model: path-patching rounds, faithfulness, report."""
