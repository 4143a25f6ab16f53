"""ASAPNet (Rott Shaham, Gharbi, Zhang, Shechtman, Michaeli, CVPR 2021): fast label-to-image translation.

A low-resolution conv net predicts, for every S x S cell of the image, the weights of a small pixel-wise MLP;
each full-resolution pixel (labels + sinusoidal coordinates) then goes through its cell's MLP.

config.py (paper/official defaults, ASAPNet and the SPADE baseline), encoding.py (sinusoidal coordinates),
generator.py (ASAPNet's LR and HR streams, `make_generator`), spade.py (the SPADE generator baseline),
discriminator.py (multiscale PatchGAN), losses.py (hinge GAN, feature matching, VGG perceptual), vgg.py
(VGG19 features), train.py (jitted G/D steps), quality.py (weight-free quality on held-out pairs). The data
pipeline lives in `jaxinterp/data/`.
"""
