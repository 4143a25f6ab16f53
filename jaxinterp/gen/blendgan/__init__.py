"""BlendGAN (Kligvasser, Rott Shaham, Alkobi, Michaeli, 2022): one pyramid GAN learns the internal
patch distributions of several images at once, conditioned at every scale on a spatial image-identity
map; morphing, melding and structure-texture fusion follow from editing that map.

config.py (hyper-parameters), identity.py (identity maps), sampling.py (running a trained pyramid),
train.py (the `Recipe` for the shared `gen/pyramid_train.py`), store.py (a run on disk), apps.py
(morph / meld / fuse), cli.py (`jaxinterp blendgan ...`).
"""
