/// The Isolation surface: IOMMU groups, user ownership, attach, PASID sub-device isolation.
///
/// Devices are partitioned into groups; a group is the unit of isolation and of ownership
/// (linux Documentation/driver-api/vfio.rst; seed 002). Contexts (users such as an iommufd or a
/// VFIO container) claim groups and attach them to their domains (address spaces). DMA from a
/// device reaches only the domain its group, or the PASID it tags, is attached to.
///
/// An implementation calls `checkpoint` after each change of DMA-relevant state (a context
/// entry written, an owner recorded). The checker then probes its `dma` and `owner(of:)` from
/// inside the operation, the way a device's DMA can land between two writes of the kernel, so
/// a window in the middle of a claim or a release is seen. Call it between state changes,
/// never inside one.
public protocol IsolationSystem: AnyObject {
    func bind(device: Int, driver: Driver) -> Result<Void, IsolationError>
    func claim(context: Int, group: Int) -> Result<Void, IsolationError>
    func release(context: Int, group: Int) -> Result<Void, IsolationError>
    func attach(context: Int, group: Int, domain: Int) -> Result<Void, IsolationError>
    func detach(context: Int, group: Int) -> Result<Void, IsolationError>
    /// The device API (a VFIO device cdev bound to an iommufd): ownership taken device by device.
    func claimDevice(context: Int, device: Int) -> Result<Void, IsolationError>
    func releaseDevice(context: Int, device: Int) -> Result<Void, IsolationError>
    func attachDevice(context: Int, device: Int, domain: Int) -> Result<Void, IsolationError>
    func detachDevice(context: Int, device: Int) -> Result<Void, IsolationError>
    func attachPASID(context: Int, device: Int, pasid: UInt32, domain: Int) -> Result<Void, IsolationError>
    func detachPASID(context: Int, device: Int, pasid: UInt32) -> Result<Void, IsolationError>
    /// Where a DMA from `device` (tagged with `pasid`, if any) at `iova` goes.
    func dma(device: Int, pasid: UInt32?, iova: UInt64, access: Access) -> DMAOutcome
    /// The context that owns `group`, or nil while the kernel owns it.
    func owner(of group: Int) -> Int?
}

/// The driver a device is bound to.
public enum Driver: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// No driver.
    case none
    /// A kernel driver that uses the DMA API: it counts as a user of the group's default
    /// domain (pci_dma_configure calls iommu_device_use_default_domain).
    case kernel
    /// The user-access driver (vfio-pci): the device may be handed to a user.
    case userAccess = "user-access"
    /// A kernel driver that manages no DMA (`driver_managed_dma`: pci-stub, pcieport): it takes
    /// no count, so the group stays viable.
    case driverManaged = "driver-managed"

    public var description: String { rawValue }
}

/// Why an isolation operation failed. Each names one rule; the errno the kernel returns is
/// given for each (several rules share one, so a back end that knows only the errno may
/// report any rule of that errno: `IsolationError.errno`).
public enum IsolationError: String, Error, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// A device, group, context, domain or PASID number that does not exist. iommufd: ENOENT.
    case noSuchObject = "no-such-object"
    /// A device of the group is bound to a kernel DMA-API driver: the group's owner count is
    /// held by the kernel. iommu.c iommu_group_claim_dma_owner / iommu_device_claim_dma_owner: EPERM.
    case notViable = "not-viable"
    /// Another context owns the group. iommu.c: EPERM.
    case ownedByOther = "owned-by-other"
    /// The context does not hold the group (or the device).
    case notOwner = "not-owner"
    /// A kernel DMA-API driver cannot bind to a device of a user-owned group.
    /// iommu.c iommu_device_use_default_domain: EBUSY.
    case groupOwned = "group-owned"
    /// The domain belongs to another context. iommufd: objects are per file, ENOENT.
    case domainNotOwned = "domain-not-owned"
    /// The device does not support PASID, or the interface has none. EOPNOTSUPP.
    case noPASIDSupport = "no-pasid-support"
    /// The group API: the context already holds the group ("Only a single owner may exist for
    /// a group", iommu_group_claim_dma_owner: EPERM even for the same owner).
    case alreadyClaimed = "already-claimed"
    /// The device is bound to no user-access driver, so it has no device file to claim.
    /// vfio_device_fops_cdev_open: ENODEV.
    case notUserAccess = "not-user-access"
    /// The device is already claimed (vfio_df_open: "Only the group path allows the device to
    /// be opened multiple times": EINVAL).
    case alreadyBound = "already-bound"
    /// The group, or this PASID of it, is attached to another domain through another device.
    /// iommufd iommufd_hw_pagetable_attach: EINVAL.
    case attachedElsewhere = "attached-elsewhere"
    /// The group is attached already. iommu.c __iommu_attach_group: EBUSY.
    case alreadyAttached = "already-attached"
    /// The group is held through the other interface (a group file and a device cdev of it
    /// exclude each other: vfio_device_block_group, vfio_group_fops_open: EBUSY).
    case otherInterface = "other-interface"
    /// The device is claimed by a user: its driver cannot change (the kernel's unbind waits
    /// for the user to close it, vfio_unregister_group_dev). EBUSY here.
    case deviceInUse = "device-in-use"

    public var description: String { rawValue }

    /// The errno a Linux back end returns for this rule.
    public var errno: String {
        switch self {
        case .noSuchObject, .domainNotOwned: "ENOENT"
        case .notViable, .ownedByOther, .alreadyClaimed: "EPERM"
        case .notOwner: "ENOENT"
        case .groupOwned, .alreadyAttached, .otherInterface, .deviceInUse: "EBUSY"
        case .noPASIDSupport: "EOPNOTSUPP"
        case .notUserAccess: "ENODEV"
        case .alreadyBound, .attachedElsewhere: "EINVAL"
        }
    }
}

/// Where a DMA goes.
public enum DMAOutcome: Hashable, Sendable, CustomStringConvertible {
    /// Translated by a user domain.
    case reached(domain: Int, phys: UInt64)
    /// The group is not user-owned: the DMA goes through the kernel's default domain, which
    /// this checker does not model. Legal only while no user owns the group.
    case kernelDomain
    /// The group is owned but attached to no domain: the blocking domain faults it.
    case blocked
    /// The group is owned, attached to no domain, and the policy is bypass: the access goes
    /// to guest-physical memory untranslated (virtio-iommu bypass mode).
    case bypass
    /// PASID-tagged DMA with no domain attached to that PASID.
    case noDomain
    /// The domain does not map the address, or not for this access.
    case faulted(TranslationFault)

    public var label: String {
        switch self {
        case .reached: "ok"
        case .kernelDomain: "kernel-domain"
        case .blocked: "blocked"
        case .bypass: "bypass"
        case .noDomain: "no-domain"
        case .faulted(let fault): fault.rawValue
        }
    }

    public var description: String {
        switch self {
        case .reached(let domain, let phys): "domain \(domain), \(hex(phys))"
        default: label
        }
    }
}
