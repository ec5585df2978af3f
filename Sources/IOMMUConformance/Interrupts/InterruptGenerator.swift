import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// Draws guest MSI-X writes and device raises, toward what loses interrupts: enable with few
/// vectors, unmask beyond what the host has allocated (growth, with raises scheduled between
/// its host calls), mask/unmask storms, function mask, disable and re-enable, entry writes
/// while unmasked, PASID-tagged IMS entries and raises with matching and foreign PASIDs.
struct InterruptGenerator {
    static let kindWeights = [8, 5, 12, 25, 6, 44]

    let configuration: InterruptConfiguration

    func draw(_ stream: ChoiceStream, enabled: KindSet, model: InterruptModel) -> InterruptOperation {
        switch stream.drawWeightedIndex(enabled.mask(Self.kindWeights)) {
        case 0: return .setEnabled(stream.drawBool(probability: 0.7), raises: injections(stream, model))
        case 1: return .setFunctionMask(stream.drawBool(), raises: injections(stream, model))
        case 2:
            let vector = self.vector(stream)
            let address = 0xFEE0_0000 | (stream.draw(upTo: 3) << 12)
            return .writeEntry(vector: vector, address: address, data: UInt32(0x20 + stream.draw(upTo: 31)), raises: injections(stream, model))
        case 3: return .setVectorMask(vector: vector(stream), masked: stream.drawBool(probability: 0.35), raises: injections(stream, model))
        case 4:
            let vector = self.vector(stream)
            let tagged = stream.drawBool(probability: 0.6)
            let pasid = UInt32(1 + stream.draw(upTo: 2))
            return .setPASID(vector: vector, pasid: tagged ? pasid : nil, raises: injections(stream, model))
        default:
            let vector = self.vector(stream)
            return .raise(vector: vector, pasid: pasid(stream, for: vector, model))
        }
    }

    private func vector(_ stream: ChoiceStream) -> Int { Int(stream.draw(upTo: UInt64(configuration.vectors - 1))) }

    /// Usually the PASID the entry accepts; one raise in ten carries another sub-device's.
    private func pasid(_ stream: ChoiceStream, for vector: Int, _ model: InterruptModel) -> UInt32 {
        let foreign = stream.drawBool(probability: 0.1)
        let other = UInt32(stream.draw(upTo: 3))
        return foreign ? other : model.entries[vector].pasid ?? configuration.defaultPASID
    }

    /// Raises scheduled between the host calls this guest write will cause.
    private func injections(_ stream: ChoiceStream, _ model: InterruptModel) -> [InterruptHost.Injection] {
        guard stream.drawBool(probability: 0.4) else { return [] }
        return (0...Int(stream.draw(upTo: 2))).map { _ in
            let afterCall = 1 + Int(stream.draw(upTo: 3))
            let vector = self.vector(stream)
            return InterruptHost.Injection(afterCall: afterCall, vector: vector, pasid: pasid(stream, for: vector, model))
        }
    }

    /// One to 64 vectors (mostly a few, often past 32 so a pending mask kept in 32 bits shows);
    /// a host with or without dynamic MSI-X allocation; an emulated or passed-through device.
    static func drawConfiguration(_ stream: ChoiceStream, policy fixed: InterruptPolicy? = nil) -> InterruptConfiguration {
        let vectors = [1 + Int(stream.draw(upTo: 7)), 9 + Int(stream.draw(upTo: 23)), 33 + Int(stream.draw(upTo: 31))][stream.drawWeightedIndex([60, 15, 25])]
        let dynamic = stream.drawBool()
        let drawn = InterruptPolicy.presets[stream.drawWeightedIndex([60, 40])].policy
        return InterruptConfiguration(vectors: vectors, dynamicAllocation: dynamic, defaultPASID: 0, policy: fixed ?? drawn)
    }
}
