import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// Draws Isolation operations from the model's state, toward the rare cases: claiming a group
/// with one unviable device, binding a kernel driver mid-ownership, contexts racing for one
/// group, a second device of a group attaching elsewhere, PASIDs that alias modulo 8 or 256,
/// DMA from every device of a group. The policy's interface decides which operations exist
/// (a VFIO container never sends claim-device). As in every generator here, state-independent
/// options come first and weights never depend on the state, so shrinking deletes commands
/// cleanly.
struct IsolationGenerator {
    let topology: Topology
    /// Per kind (IsolationOperation.kindNames), for this case's policy.
    let kindWeights: [Int]
    private let palette: [UInt32]

    init(topology: Topology) {
        self.topology = topology
        palette = topology.probedPASIDs
        let group = topology.policy.interface == .group, pasid = topology.policy.pasid == .groupWide
        kindWeights = [8, group ? 14 : 0, group ? 8 : 0, group ? 14 : 0, group ? 6 : 0, pasid ? 12 : 0, pasid ? 5 : 0, 33,
                       group ? 0 : 16, group ? 0 : 8, group ? 0 : 14, group ? 0 : 6]
    }

    func draw(_ stream: ChoiceStream, enabled: KindSet, model: IsolationModel) -> IsolationOperation {
        switch stream.drawWeightedIndex(enabled.mask(kindWeights)) {
        case 0:
            let driver = [Driver.userAccess, .none, .kernel, .driverManaged][stream.drawWeightedIndex([45, 25, 18, 12])]
            return .bind(device: device(stream, model), driver: driver)
        case 1:
            let group = group(stream)
            return .claim(context: context(stream, owning: group, model, preferOwner: 0.3), group: group)
        case 2:
            let group = group(stream, model)
            return .release(context: context(stream, owning: group, model, preferOwner: 0.8), group: group)
        case 3:
            let group = group(stream, model)
            let context = context(stream, owning: group, model, preferOwner: 0.85)
            return .attach(context: context, group: group, domain: domain(stream, of: context))
        case 4:
            let group = group(stream, model)
            return .detach(context: context(stream, owning: group, model, preferOwner: 0.8), group: group)
        case 5:
            let device = device(stream, model)
            let context = context(stream, owning: groupOf(device), model, preferOwner: 0.85)
            return .attachPASID(context: context, device: device, pasid: pasid(stream), domain: domain(stream, of: context))
        case 6:
            let device = device(stream, model)
            let context = context(stream, owning: groupOf(device), model, preferOwner: 0.85)
            return .detachPASID(context: context, device: device, pasid: pasid(stream))
        case 8:
            // Often a device of a group some context already holds: counted claims, and races.
            let device = device(stream, model)
            return .claimDevice(context: context(stream, owning: groupOf(device), model, preferOwner: 0.5), device: device)
        case 9:
            let device = device(stream, model)
            return .releaseDevice(context: context(stream, owning: groupOf(device), model, preferOwner: 0.8), device: device)
        case 10:
            let device = device(stream, model)
            let context = context(stream, owning: groupOf(device), model, preferOwner: 0.85)
            return .attachDevice(context: context, device: device, domain: domain(stream, of: context))
        case 11:
            let device = device(stream, model)
            return .detachDevice(context: context(stream, owning: groupOf(device), model, preferOwner: 0.8), device: device)
        default:
            let device = min(device(stream, model), topology.deviceCount - 1)
            let tagged = stream.drawBool(probability: 0.35)
            let pasid = tagged ? palette[Int(stream.drawUniform(upTo: UInt64(palette.count - 1)))] : nil
            let iova: UInt64 = [0x10000 + 0x1000 * stream.draw(upTo: 15), 0x20000, 0x30000][stream.drawWeightedIndex([8, 1, 1])]
            return .dma(device: device, pasid: pasid, iova: iova, access: stream.drawBool() ? .write : .read)
        }
    }

    private func groupOf(_ device: Int) -> Int { topology.groupOfDevice[min(device, topology.deviceCount - 1)] }

    /// A device number, often one of a user-owned group; rarely one past the last (an object
    /// that does not exist).
    private func device(_ stream: ChoiceStream, _ model: IsolationModel? = nil) -> Int {
        let any = stream.drawBool(probability: 0.02) ? topology.deviceCount : Int(stream.draw(upTo: UInt64(topology.deviceCount - 1)))
        guard let model, stream.drawBool(probability: 0.6) else { return any }
        return pickOwned(topology.deviceCount, any, stream) { model.owner(of: topology.groupOfDevice[$0]) != nil }
    }

    /// A group number, often a user-owned one; rarely one past the last.
    private func group(_ stream: ChoiceStream, _ model: IsolationModel? = nil) -> Int {
        let any = stream.drawBool(probability: 0.02) ? topology.groups.count : Int(stream.draw(upTo: UInt64(topology.groups.count - 1)))
        guard let model, stream.drawBool(probability: 0.6) else { return any }
        return pickOwned(topology.groups.count, any, stream) { model.owner(of: $0) != nil }
    }

    /// One of `0 ..< count` for which `owned` holds, drawn uniformly; `fallback` if none does.
    /// (Counted, then found: no list is built on this per-operation path.)
    private func pickOwned(_ count: Int, _ fallback: Int, _ stream: ChoiceStream, _ owned: (Int) -> Bool) -> Int {
        var total = 0
        for index in 0..<count where owned(index) { total += 1 }
        guard total > 0 else { return fallback }
        var remaining = Int(stream.drawUniform(upTo: UInt64(total - 1)))
        for index in 0..<count where owned(index) {
            if remaining == 0 { return index }
            remaining -= 1
        }
        return fallback
    }

    /// Usually the group's owner (so the operation can succeed), otherwise any context, which
    /// makes races and non-owner attempts.
    private func context(_ stream: ChoiceStream, owning group: Int, _ model: IsolationModel, preferOwner: Double) -> Int {
        let wantsOwner = stream.drawBool(probability: preferOwner)
        let any = stream.drawBool(probability: 0.02) ? topology.contexts : Int(stream.draw(upTo: UInt64(topology.contexts - 1)))
        if wantsOwner, let owner = model.owner(of: group) { return owner }
        return any
    }

    /// Usually one of the context's own domains, sometimes any domain.
    private func domain(_ stream: ChoiceStream, of context: Int) -> Int {
        let own = stream.drawBool(probability: 0.85)
        let any = Int(stream.draw(upTo: UInt64(topology.domainOwners.count - 1)))
        if own, let first = topology.domainOwners.firstIndex(of: context) { return first + (stream.drawBool() ? 1 : 0) }
        return any
    }

    /// Mostly a probed PASID (so attachments get hit, aliases included), sometimes any PASID
    /// of the range, rarely 0 (the untagged requester ID) or one past the last.
    private func pasid(_ stream: ChoiceStream) -> UInt32 {
        switch stream.drawWeightedIndex([86, 8, 3, 3]) {
        case 1: 1 + UInt32(stream.draw(upTo: UInt64(topology.maxPASID - 1)))
        case 2: 0
        case 3: topology.maxPASID + 1
        default: palette[Int(stream.draw(upTo: UInt64(palette.count - 1)))]
        }
    }

    /// A topology under `policy` (drawn per case when nil): usually one to six devices, in
    /// about one case in eight up to 64; contiguous groups (a multi-device group is a PCIe
    /// switch without ACS, its first device often the bridge, bound to a driver-managed port
    /// driver or none); PASID-capable devices; two to four contexts with two domains each; a
    /// PASID range from 1 to 2^20 - 1. Each device is one span preceded by a "one more"
    /// boolean, so the shrinker removes devices the failure does not need.
    static func drawTopology(_ stream: ChoiceStream, policy: IsolationPolicy?) -> Topology {
        let presets = IsolationPolicy.presets
        let policy = policy ?? presets[Int(stream.draw(upTo: UInt64(presets.count - 1)))].policy
        let limit = stream.drawBool(probability: 0.12) ? 64 : 6
        var groups: [[Int]] = []
        var pasidCapable: [Bool] = [], drivers: [Driver] = []
        for device in 0...limit {
            stream.beginSpan("device")
            // The stop after the last device is a forced draw, so deleting a device's span while
            // shrinking leaves a stop, not the next field, where the loop reads one.
            let more = device == 0 || (device < limit ? stream.drawBool(probability: limit == 6 ? 0.7 : 0.93) : stream.draw(upTo: 1, forcedTo: 0) == 1)
            if !more {
                stream.endSpan()
                break
            }
            let newGroup = device == 0 || stream.drawBool(probability: 0.55)
            if newGroup { groups.append([device]) } else { groups[groups.count - 1].append(device) }
            if newGroup && stream.drawBool(probability: 0.15) {
                // The bridge of a switch without ACS: no PASID, pcieport or no driver.
                pasidCapable.append(false)
                drivers.append(stream.drawBool(probability: 0.7) ? .driverManaged : .none)
            } else {
                pasidCapable.append(stream.drawBool())
                drivers.append([Driver.userAccess, .none, .kernel, .driverManaged][stream.drawWeightedIndex([55, 20, 15, 10])])
            }
            stream.endSpan()
        }
        let contexts = 2 + Int(stream.draw(upTo: 2))
        let maxPASID: UInt32 = [15, 1, 16, 255, (1 << 20) - 1][stream.drawWeightedIndex([50, 8, 14, 14, 14])]
        return Topology(groups: groups, pasidCapable: pasidCapable, contexts: contexts, domainOwners: (0..<contexts * 2).map { $0 / 2 },
                        initialDrivers: drivers, maxPASID: maxPASID, policy: policy)
    }
}
