"""Services: one package per capability, built on the store, the bus and the models."""
