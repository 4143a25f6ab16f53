"""SinGAN (Rott Shaham, Dekel, Michaeli, ICCV 2019): a generative model learnt from one image.

config.py (paper defaults), model.py (per-scale G and D), sampling.py (running a pyramid), train.py
(jitted per-scale training, resume, several images at once), store.py (run folders), apps.py (the six
applications), cli.py (`jaxinterp singan ...`).
"""
