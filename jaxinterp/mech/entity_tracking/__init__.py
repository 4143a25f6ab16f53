"""The entity-tracking study of Prakash et al. (ICLR 2024) on models trained in-repo (`jaxinterp mech
entity-tracking`): a base model, fine-tuned variants, the circuit found by path patching, its faithfulness
in every model, DCM per group and desideratum, and cross-model activation patching."""
