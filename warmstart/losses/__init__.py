"""Penalties and criteria as nn.Module.

NT-Xent, BYOL regression, gradient reversal, domain discriminator, CDAN, MK-MMD, CORAL, MCC, FixMatch.
"""
