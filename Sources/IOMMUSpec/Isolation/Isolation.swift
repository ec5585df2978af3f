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
    /// A kernel driver: the group stays in the kernel's default domain.
    case kernel
    /// The user-access driver (vfio-pci): the device may be handed to a user.
    case userAccess = "user-access"

    public var description: String { rawValue }
}

/// Why an isolation operation failed.
public enum IsolationError: String, Error, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// A device, group, context, domain or PASID number that does not exist. iommufd: ENOENT.
    case noSuchObject = "no-such-object"
    /// A device of the group is bound to a kernel driver. vfio.rst: a group is viable only when
    /// every device is bound to a vfio driver or to none; iommu.c: claim fails while the kernel
    /// uses the group's default domain.
    case notViable = "not-viable"
    /// Another context owns the group. iommu.c iommu_device_claim_dma_owner: EBUSY.
    case ownedByOther = "owned-by-other"
    /// The context does not own the group (or the device's group).
    case notOwner = "not-owner"
    /// A kernel driver cannot bind to a device of a user-owned group.
    /// iommu.c iommu_device_use_default_domain: EBUSY.
    case groupOwned = "group-owned"
    /// The domain belongs to another context. iommufd: objects are per file, ENOENT.
    case domainNotOwned = "domain-not-owned"
    /// The device does not support PASID. EOPNOTSUPP.
    case noPASIDSupport = "no-pasid-support"

    public var description: String { rawValue }
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
    /// PASID-tagged DMA with no domain attached to that PASID.
    case noDomain
    /// The domain does not map the address, or not for this access.
    case faulted(TranslationFault)

    public var label: String {
        switch self {
        case .reached: "ok"
        case .kernelDomain: "kernel-domain"
        case .blocked: "blocked"
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
