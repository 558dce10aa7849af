"""Coevo's models: torch definitions and training (torch needed), the contract and shipped files (torch-free).

Import ``models.contract`` and ``models.shipped`` from the daemon; the other modules import torch.
"""
