"""Coevo's models: torch definitions and training (torch needed), the contract and shipped files (torch-free).

Import ``models.contract``, ``models.shipped`` and ``models.recipe`` from the daemon and CLI; the other modules
import torch.
"""
