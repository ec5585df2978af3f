// iommu-check: the command line arrives with the AddressSpace surface (`iommu-check run`).
print("iommu-check: no surfaces yet")
