"""Circuit tools over the mech core: nodes and mean-ablation evaluation, DCM masks, cross-model patching,
and circuit discovery by path patching (Prakash et al. 2024; Davies et al. 2023)."""
