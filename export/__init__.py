"""Torch -> ONNX export with the Coevo contract in metadata and a parity check before writing."""
