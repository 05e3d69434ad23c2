"""Penalties and criteria as nn.Module: NT-Xent, gradient reversal, domain discriminator, CDAN, MK-MMD, CORAL."""
