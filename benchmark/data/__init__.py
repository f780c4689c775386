"""Sketch data: containers, readers, HDF5 storage, the demo dataset and distributed sharding."""
