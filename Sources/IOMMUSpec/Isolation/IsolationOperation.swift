/// One Isolation operation: the vocabulary generators, traces and runners share.
public enum IsolationOperation: Hashable, Sendable, CustomStringConvertible {
    case bind(device: Int, driver: Driver)
    case claim(context: Int, group: Int)
    case release(context: Int, group: Int)
    case attach(context: Int, group: Int, domain: Int)
    case detach(context: Int, group: Int)
    case attachPASID(context: Int, device: Int, pasid: UInt32, domain: Int)
    case detachPASID(context: Int, device: Int, pasid: UInt32)
    case dma(device: Int, pasid: UInt32?, iova: UInt64, access: Access)
    case claimDevice(context: Int, device: Int)
    case releaseDevice(context: Int, device: Int)
    case attachDevice(context: Int, device: Int, domain: Int)
    case detachDevice(context: Int, device: Int)

    public static let kindNames = ["bind", "claim", "release", "attach", "detach", "attach-pasid", "detach-pasid", "dma",
                                   "claim-device", "release-device", "attach-device", "detach-device"]

    public var kind: Int {
        switch self {
        case .bind: 0
        case .claim: 1
        case .release: 2
        case .attach: 3
        case .detach: 4
        case .attachPASID: 5
        case .detachPASID: 6
        case .dma: 7
        case .claimDevice: 8
        case .releaseDevice: 9
        case .attachDevice: 10
        case .detachDevice: 11
        }
    }

    public func apply(to system: some IsolationSystem) -> IsolationOutcome {
        let result: Result<Void, IsolationError>
        switch self {
        case .bind(let device, let driver): result = system.bind(device: device, driver: driver)
        case .claim(let context, let group): result = system.claim(context: context, group: group)
        case .release(let context, let group): result = system.release(context: context, group: group)
        case .attach(let context, let group, let domain): result = system.attach(context: context, group: group, domain: domain)
        case .detach(let context, let group): result = system.detach(context: context, group: group)
        case .attachPASID(let context, let device, let pasid, let domain): result = system.attachPASID(context: context, device: device, pasid: pasid, domain: domain)
        case .detachPASID(let context, let device, let pasid): result = system.detachPASID(context: context, device: device, pasid: pasid)
        case .dma(let device, let pasid, let iova, let access): return .dma(system.dma(device: device, pasid: pasid, iova: iova, access: access))
        case .claimDevice(let context, let device): result = system.claimDevice(context: context, device: device)
        case .releaseDevice(let context, let device): result = system.releaseDevice(context: context, device: device)
        case .attachDevice(let context, let device, let domain): result = system.attachDevice(context: context, device: device, domain: domain)
        case .detachDevice(let context, let device): result = system.detachDevice(context: context, device: device)
        }
        switch result {
        case .success: return .done
        case .failure(let error): return .failed(error)
        }
    }

    public var description: String {
        switch self {
        case .bind(let device, let driver): "bind(d\(device), \(driver))"
        case .claim(let context, let group): "claim(c\(context), g\(group))"
        case .release(let context, let group): "release(c\(context), g\(group))"
        case .attach(let context, let group, let domain): "attach(c\(context), g\(group), D\(domain))"
        case .detach(let context, let group): "detach(c\(context), g\(group))"
        case .attachPASID(let context, let device, let pasid, let domain): "attach-pasid(c\(context), d\(device), pasid \(pasid), D\(domain))"
        case .detachPASID(let context, let device, let pasid): "detach-pasid(c\(context), d\(device), pasid \(pasid))"
        case .dma(let device, let pasid, let iova, let access): "dma(d\(device)\(pasid.map { ", pasid \($0)" } ?? ""), \(hex(iova)), \(access))"
        case .claimDevice(let context, let device): "claim-device(c\(context), d\(device))"
        case .releaseDevice(let context, let device): "release-device(c\(context), d\(device))"
        case .attachDevice(let context, let device, let domain): "attach-device(c\(context), d\(device), D\(domain))"
        case .detachDevice(let context, let device): "detach-device(c\(context), d\(device))"
        }
    }
}

public enum IsolationOutcome: Hashable, Sendable, CustomStringConvertible {
    case done
    case failed(IsolationError)
    case dma(DMAOutcome)

    public var isSuccess: Bool {
        switch self {
        case .done: true
        case .failed: false
        case .dma(let outcome): if case .reached = outcome { true } else { false }
        }
    }

    public var label: String {
        switch self {
        case .done: "ok"
        case .failed(let error): error.rawValue
        case .dma(let outcome): outcome.label
        }
    }

    public var description: String {
        switch self {
        case .done: "ok"
        case .failed(let error): "error \(error)"
        case .dma(let outcome): outcome.description
        }
    }
}
