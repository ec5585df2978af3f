import IOMMUSpec
import PropertyCheck

// The baseline of the detection benchmark (docs/DETECTION.md): per surface, a plain uniform
// random operation generator. Every kind is equally likely, every field is uniform over a fixed
// range, nothing looks at the model's state (no aiming at existing mappings, owned groups or
// enabled vectors), nothing favours edges or small values. The configuration or topology is
// still drawn as in a real run. Comparing the two generators measures what state awareness,
// swarm and edge bias buy; it is not used to check anything.

/// A uniform draw in `0..<count`.
private func uniform(_ stream: ChoiceStream, _ count: UInt64) -> UInt64 { stream.drawUniform(upTo: count - 1) }

extension AddressSpaceMachine {
    /// Addresses in a 1 GiB window of pages, lengths of 1 to 256 pages, any permission bits
    /// (none included), any access.
    mutating func drawUniformCommand(_ stream: ChoiceStream) -> AddressSpaceOperation {
        let page = model.configuration.pageSize
        let window: UInt64 = (1 << 30) / page
        switch uniform(stream, 4) {
        case 0:
            return .map(iova: uniform(stream, window) * page, length: (1 + uniform(stream, 256)) * page,
                        phys: uniform(stream, window) * page, permissions: Permissions(rawValue: UInt8(uniform(stream, 4))))
        case 1: return .unmap(iova: uniform(stream, window) * page, length: (1 + uniform(stream, 256)) * page)
        case 2: return .unmapAll()
        default: return .translate(iova: uniform(stream, window * page), access: uniform(stream, 2) == 0 ? .read : .write)
        }
    }
}

extension IsolationMachine {
    /// Every device, group, context, domain and driver alike; PASIDs over the whole range;
    /// DMA to one of 32 pages.
    func drawUniformCommand(_ stream: ChoiceStream) -> IsolationOperation {
        let topology = model.topology
        let device = Int(uniform(stream, UInt64(topology.deviceCount)))
        let group = Int(uniform(stream, UInt64(topology.groups.count)))
        let context = Int(uniform(stream, UInt64(topology.contexts)))
        let domain = Int(uniform(stream, UInt64(topology.domainOwners.count)))
        let pasid = UInt32(uniform(stream, UInt64(topology.maxPASID) + 1))
        switch uniform(stream, 12) {
        case 0: return .bind(device: device, driver: Driver.allCases[Int(uniform(stream, UInt64(Driver.allCases.count)))])
        case 1: return .claim(context: context, group: group)
        case 2: return .release(context: context, group: group)
        case 3: return .attach(context: context, group: group, domain: domain)
        case 4: return .detach(context: context, group: group)
        case 5: return .attachPASID(context: context, device: device, pasid: pasid, domain: domain)
        case 6: return .detachPASID(context: context, device: device, pasid: pasid)
        case 8: return .claimDevice(context: context, device: device)
        case 9: return .releaseDevice(context: context, device: device)
        case 10: return .attachDevice(context: context, device: device, domain: domain)
        case 11: return .detachDevice(context: context, device: device)
        default:
            return .dma(device: device, pasid: uniform(stream, 2) == 0 ? nil : pasid, iova: 0x1000 * uniform(stream, 32),
                        access: uniform(stream, 2) == 0 ? .read : .write)
        }
    }
}

extension InterruptMachine {
    /// Any vector, any mask value, 4 message addresses, any 32-bit data, PASIDs 0 to 3, and
    /// 0 to 2 raises after host calls 1 to 4 of a guest write.
    func drawUniformCommand(_ stream: ChoiceStream) -> InterruptOperation {
        let vectors = UInt64(model.configuration.vectors)
        let vector = Int(uniform(stream, vectors))
        var raises: [InterruptHost.Injection] = []
        for _ in 0..<uniform(stream, 3) {
            raises.append(.init(afterCall: 1 + Int(uniform(stream, 4)), vector: Int(uniform(stream, vectors)), pasid: UInt32(uniform(stream, 4))))
        }
        switch uniform(stream, 6) {
        case 0: return .setEnabled(uniform(stream, 2) == 1, raises: raises)
        case 1: return .setFunctionMask(uniform(stream, 2) == 1, raises: raises)
        case 2: return .writeEntry(vector: vector, address: 0xFEE0_0000 | (uniform(stream, 4) << 12), data: UInt32(uniform(stream, 1 << 32)), raises: raises)
        case 3: return .setVectorMask(vector: vector, masked: uniform(stream, 2) == 1, raises: raises)
        case 4: return .setPASID(vector: vector, pasid: uniform(stream, 2) == 0 ? nil : UInt32(uniform(stream, 4)), raises: raises)
        default: return .raise(vector: vector, pasid: UInt32(uniform(stream, 4)))
        }
    }
}

extension ShadowMachine {
    /// Leaves of any size anywhere in a 2 GiB IOVA window pointing anywhere in 8 GiB of guest
    /// physical space, any permissions; invalidations of any kind, orders 0 to 18; DMA to any
    /// page of the window, 0 to 2 DMAs after host calls 1 to 4 of an invalidation.
    func drawUniformCommand(_ stream: ChoiceStream) -> ShadowOperation {
        let window: UInt64 = 1 << 31
        let domain = Int(uniform(stream, UInt64(configuration.domains)))
        let size = ShadowGenerator.sizes[Int(uniform(stream, 3))]
        let iova = uniform(stream, window / size) * size
        let access: Access = uniform(stream, 2) == 0 ? .read : .write
        switch uniform(stream, 6) {
        case 0:
            let permissions = [Permissions.read, .write, .readWrite][Int(uniform(stream, 3))]
            return .writeLeaf(domain: domain, leaf: GuestLeaf(iova: iova, size: size, gpa: uniform(stream, (1 << 33) / size) * size, permissions: permissions))
        case 1: return .clear(domain: domain, iova: iova, size: size)
        case 2: return .demote(domain: domain, iova: iova, size: size)
        case 3: return .setContext(domain: domain, present: uniform(stream, 2) == 1)
        case 4:
            var dma: [ShadowOperation.ScheduledDMA] = []
            for _ in 0..<uniform(stream, 3) {
                dma.append(.init(afterCall: 1 + Int(uniform(stream, 4)), domain: Int(uniform(stream, UInt64(configuration.domains))), iova: uniform(stream, window >> 12) << 12))
            }
            let invalidation: Invalidation
            switch uniform(stream, 4) {
            case 0:
                let order = Int(uniform(stream, 19))
                let iova = (uniform(stream, window >> 12) << 12) & ~((UInt64(4096) << UInt64(order)) - 1)
                invalidation = .pageSelective(domain: domain, iova: iova, order: order)
            case 1: invalidation = .domain(domain)
            case 2: invalidation = .global
            default: invalidation = .context(domain)
            }
            return .invalidate(invalidation, dma: dma)
        default: return .dma(domain: domain, iova: uniform(stream, window >> 12) << 12, access: access)
        }
    }
}

extension ProtectedDMAMachine {
    /// Buffers anywhere in the driver's memory, 1 to 8,192 bytes, any direction; mappings and
    /// coherent buffers named by any id given so far (one that is not live does nothing); spans
    /// uniform inside what they name; no injections.
    func drawUniformCommand(_ stream: ChoiceStream) -> ProtectedDMAOperation {
        let model = judge.model, total = model.buffers.count
        let id = Int(uniform(stream, UInt64(max(nextID, 1))))
        func span(_ size: Int?) -> (Int, Int) {
            guard let size, size > 0 else { return (0, 1) }
            let offset = Int(uniform(stream, UInt64(size)))
            return (offset, 1 + Int(uniform(stream, UInt64(size - offset))))
        }
        func data(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(uniform(stream, 256)) } }
        let direction = DMADirection.allCases[Int(uniform(stream, 3))]
        let target: ProtectedDMAOperation.Target = uniform(stream, 2) == 0 ? .mapping(id) : .coherent(id)
        let size: Int? = switch target {
        case .mapping(let id): model.mappings[id]?.size
        case .coherent(let id): model.coherent[id]?.count
        case .buffers: total
        }
        switch uniform(stream, 11) {
        case 0:
            let offset = Int(uniform(stream, UInt64(total)))
            return .map(id: nextID, offset: offset, size: 1 + Int(uniform(stream, UInt64(min(8192, total - offset)))), direction: direction, during: [])
        case 1: return .unmap(id: id, during: [])
        case 2, 3:
            guard let size = model.mappings[id]?.size else { return .unmap(id: id, during: []) }
            let (offset, length) = span(size)
            return uniform(stream, 2) == 0 ? .syncForDevice(id: id, offset: offset, length: length, during: []) : .syncForCPU(id: id, offset: offset, length: length, during: [])
        case 4: return .allocCoherent(id: nextID, size: 1 + Int(uniform(stream, 16384)), during: [])
        case 5: return .freeCoherent(id: id, during: [])
        case 6: return .setupVirtqueue(id: nextID, size: 1 + Int(uniform(stream, 8192)))
        case 7:
            let (offset, length) = span(total)
            return .cpuWrite(.buffers, offset: offset, data: data(min(length, 256)))
        case 8:
            let (offset, length) = span(total)
            return .cpuRead(.buffers, offset: offset, length: min(length, 256))
        case 9:
            let (offset, length) = span(size)
            return size == nil ? .cpuRead(.buffers, offset: 0, length: 1) : .deviceRead(target, offset: offset, length: min(length, 256))
        default:
            let (offset, length) = span(size)
            return size == nil ? .cpuRead(.buffers, offset: 0, length: 1) : .deviceWrite(target, offset: offset, data: data(min(length, 256)))
        }
    }
}
