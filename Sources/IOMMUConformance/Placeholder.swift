// The IOMMUConformance module: its first surface arrives with the AddressSpace issue (see docs/ARCHITECTURE.md).
