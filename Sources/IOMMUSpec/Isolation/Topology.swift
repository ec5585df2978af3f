/// The fixed facts of an isolation case: which devices form which groups, which devices
/// support PASID, how many contexts exist, which context owns each domain, what each domain
/// maps, each device's driver at the start, and the interface's policy.
public struct Topology: Hashable, Sendable, CustomStringConvertible {
    /// Device numbers of each group; every device is in exactly one group.
    public var groups: [[Int]] {
        didSet { groupOfDevice = Self.groupOfDevice(groups, pasidCapable.count) }
    }
    public var pasidCapable: [Bool] {
        didSet { groupOfDevice = Self.groupOfDevice(groups, pasidCapable.count) }
    }
    /// The group of every device (kept with `groups`: the generator and both systems read it on
    /// every operation).
    public private(set) var groupOfDevice: [Int]
    public var contexts: Int
    /// The owning context of each domain.
    public var domainOwners: [Int]
    public var initialDrivers: [Driver]
    /// PASIDs are `1 ... maxPASID` (0 is the untagged requester ID).
    public var maxPASID: UInt32
    /// The contract of the interface under test.
    public var policy: IsolationPolicy

    public init(groups: [[Int]], pasidCapable: [Bool], contexts: Int, domainOwners: [Int], initialDrivers: [Driver], maxPASID: UInt32 = 15, policy: IsolationPolicy = .iommufd) {
        self.groups = groups
        self.pasidCapable = pasidCapable
        groupOfDevice = Self.groupOfDevice(groups, pasidCapable.count)
        self.contexts = contexts
        self.domainOwners = domainOwners
        self.initialDrivers = initialDrivers
        self.maxPASID = maxPASID
        self.policy = policy
    }

    public var deviceCount: Int { pasidCapable.count }

    /// The group of each of `count` devices; a device in no group is in group 0 and a member
    /// outside the devices is ignored (`validate` refuses both).
    private static func groupOfDevice(_ groups: [[Int]], _ count: Int) -> [Int] {
        var result = Array(repeating: 0, count: count)
        for (group, members) in groups.enumerated() { for device in members where device >= 0 && device < count { result[device] = group } }
        return result
    }

    /// The PASIDs the checker probes after every step: the first two, their aliases modulo 8
    /// and 256 (a PASID table indexed by too few bits answers for both), and the last.
    public var probedPASIDs: [UInt32] {
        var result: [UInt32] = []
        for pasid in [1, 2, 9, 257, maxPASID] where pasid <= maxPASID && !result.contains(pasid) { result.append(pasid) }
        return result
    }

    /// What every domain maps: 16 pages read-write at 0x10000 and one read-only page at
    /// 0x20000, to a physical range unique to the domain, so a DMA shows which domain it reached.
    public static func domainMappings(_ domain: Int) -> [Extent] {
        let base = UInt64(domain + 1) << 32
        return [
            Extent(iova: 0x10000, length: 0x10000, phys: base + 0x10000, permissions: .readWrite),
            Extent(iova: 0x20000, length: 0x1000, phys: base + 0x20000, permissions: .read),
        ]
    }

    /// A fresh address space for `domain`, holding `domainMappings(domain)`.
    public static func makeDomain<Space: AddressSpace>(_ domain: Int, _ make: (AddressSpaceConfiguration) -> Space) -> Space {
        let space = make(AddressSpaceConfiguration())
        for extent in domainMappings(domain) {
            _ = space.map(iova: extent.iova, length: extent.length, phys: extent.phys, permissions: extent.permissions)
        }
        return space
    }

    /// What is wrong with this topology, if anything (a device in no group or in two, a domain
    /// owned by a context that does not exist, mismatched list lengths).
    public func validate() throws(ConfigurationProblem) {
        guard deviceCount <= 64 else { throw ConfigurationProblem("\(deviceCount) devices: at most 64 (device sets are 64-bit masks)") }
        let members = groups.flatMap { $0 }.sorted()
        guard members == Array(0..<deviceCount) else { throw ConfigurationProblem("every device must be in exactly one group: groups \(groups) for \(deviceCount) devices") }
        guard groups.allSatisfy({ !$0.isEmpty }) else { throw ConfigurationProblem("a group has no devices") }
        guard initialDrivers.count == deviceCount else { throw ConfigurationProblem("\(initialDrivers.count) initial drivers for \(deviceCount) devices") }
        guard contexts >= 1, domainOwners.allSatisfy({ (0..<contexts).contains($0) }) else {
            throw ConfigurationProblem("domain owners \(domainOwners) name contexts outside 0..<\(contexts)")
        }
        guard maxPASID >= 1, maxPASID < 1 << 20 else { throw ConfigurationProblem("maxPASID \(maxPASID) must be in 1 ..< 2^20") }
    }

    public var description: String {
        let groupText = groups.enumerated().map { "g\($0.offset)=\($0.element.map { "d\($0)\(pasidCapable[$0] ? "+pasid" : "")" }.joined(separator: ","))" }.joined(separator: " ")
        let domainText = domainOwners.enumerated().map { "D\($0.offset)@c\($0.element)" }.joined(separator: " ")
        let driverText = initialDrivers.enumerated().map { "d\($0.offset):\($0.element)" }.joined(separator: " ")
        return "\(groupText); \(contexts) contexts; domains \(domainText); drivers \(driverText); max PASID \(maxPASID); policy \(policy)"
    }
}
