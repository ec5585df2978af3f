import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// Draws Isolation operations from the model's state, toward the rare cases: claiming a group
/// with one unviable device, binding a kernel driver mid-ownership, two contexts racing for one
/// group, PASID attach on a device whose group is detached, DMA from every device of a group.
/// As in every generator here, state-independent options come first and weights never depend
/// on the state, so shrinking deletes commands cleanly.
struct IsolationGenerator {
    static let kindWeights = [8, 14, 8, 14, 6, 12, 5, 33]
    /// DMA probes and tagged DMA use PASIDs 1...4 (a handful, so attachments get hit).
    static let probedPASIDs: [UInt32] = [1, 2, 3, 4]

    let topology: Topology

    func draw(_ stream: ChoiceStream, enabled: KindSet, model: IsolationModel) -> IsolationOperation {
        switch stream.drawWeightedIndex(enabled.mask(Self.kindWeights)) {
        case 0:
            let driver = [Driver.userAccess, .none, .kernel][stream.drawWeightedIndex([50, 30, 20])]
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
            let context = context(stream, owning: topology.groupOfDevice[min(device, topology.deviceCount - 1)], model, preferOwner: 0.85)
            return .attachPASID(context: context, device: device, pasid: pasid(stream), domain: domain(stream, of: context))
        case 6:
            let device = device(stream, model)
            let context = context(stream, owning: topology.groupOfDevice[min(device, topology.deviceCount - 1)], model, preferOwner: 0.85)
            return .detachPASID(context: context, device: device, pasid: pasid(stream))
        default:
            let device = min(device(stream, model), topology.deviceCount - 1)
            let tagged = stream.drawBool(probability: 0.35)
            let pasid = tagged ? Self.probedPASIDs[Int(stream.drawUniform(upTo: 3))] : nil
            let iova: UInt64 = [0x10000 + 0x1000 * stream.draw(upTo: 15), 0x20000, 0x30000][stream.drawWeightedIndex([8, 1, 1])]
            return .dma(device: device, pasid: pasid, iova: iova, access: stream.drawBool() ? .write : .read)
        }
    }

    /// A device number, often one of a user-owned group; rarely one past the last (an object
    /// that does not exist).
    private func device(_ stream: ChoiceStream, _ model: IsolationModel? = nil) -> Int {
        let any = stream.drawBool(probability: 0.02) ? topology.deviceCount : Int(stream.draw(upTo: UInt64(topology.deviceCount - 1)))
        guard let model, stream.drawBool(probability: 0.6) else { return any }
        let owned = (0..<topology.deviceCount).filter { model.owner(of: topology.groupOfDevice[$0]) != nil }
        return owned.isEmpty ? any : owned[Int(stream.drawUniform(upTo: UInt64(owned.count - 1)))]
    }

    /// A group number, often a user-owned one; rarely one past the last.
    private func group(_ stream: ChoiceStream, _ model: IsolationModel? = nil) -> Int {
        let any = stream.drawBool(probability: 0.02) ? topology.groups.count : Int(stream.draw(upTo: UInt64(topology.groups.count - 1)))
        guard let model, stream.drawBool(probability: 0.6) else { return any }
        let owned = topology.groups.indices.filter { model.owner(of: $0) != nil }
        return owned.isEmpty ? any : owned[Int(stream.drawUniform(upTo: UInt64(owned.count - 1)))]
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

    private func pasid(_ stream: ChoiceStream) -> UInt32 {
        switch stream.drawWeightedIndex([96, 2, 2]) {
        case 1: 0
        case 2: topology.maxPASID + 1
        default: Self.probedPASIDs[Int(stream.draw(upTo: 3))]
        }
    }

    /// A topology: one to six devices in contiguous groups (multi-device groups model a PCIe
    /// switch without ACS), half of them PASID-capable, drivers mostly user-access; then two or
    /// three contexts with two domains each. Each device is one span preceded by a "one more"
    /// boolean, so the shrinker removes devices the failure does not need.
    static func drawTopology(_ stream: ChoiceStream) -> Topology {
        var groups: [[Int]] = []
        var pasidCapable: [Bool] = [], drivers: [Driver] = []
        for device in 0...6 {
            stream.beginSpan("device")
            // The stop after the sixth device is a forced draw, so deleting a device's span while
            // shrinking leaves a stop, not the next field, where the loop reads one.
            let more = device == 0 || (device < 6 ? stream.drawBool(probability: 0.7) : stream.draw(upTo: 1, forcedTo: 0) == 1)
            if !more {
                stream.endSpan()
                break
            }
            if device == 0 || stream.drawBool(probability: 0.55) { groups.append([device]) } else { groups[groups.count - 1].append(device) }
            pasidCapable.append(stream.drawBool())
            drivers.append([Driver.userAccess, .none, .kernel][stream.drawWeightedIndex([60, 25, 15])])
            stream.endSpan()
        }
        let contexts = 2 + Int(stream.draw(upTo: 1))
        return Topology(groups: groups, pasidCapable: pasidCapable, contexts: contexts, domainOwners: (0..<contexts * 2).map { $0 / 2 }, initialDrivers: drivers)
    }
}
