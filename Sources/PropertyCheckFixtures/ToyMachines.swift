/// Toy state machines with known bugs, shared by the engine's tests and benchmarks.
import PropertyCheck

/// A key-value store that silently drops the 8th distinct key: the classic stateful shrink
/// benchmark. The minimal failing trace is 8 puts of distinct keys and a get of the last one.
public final class StoreDroppingEighthKey {
    private var storage: [Int: Int] = [:]

    public init() {}

    public func put(_ key: Int, _ value: Int) {
        if storage[key] == nil && storage.count == 7 { return }
        storage[key] = value
    }

    public func get(_ key: Int) -> Int? { storage[key] }
    public func delete(_ key: Int) { storage[key] = nil }
}

public struct KeyValueMachine: StateMachine {
    public enum Command {
        case put(key: Int, value: Int)
        case get(key: Int)
        case delete(key: Int)
    }

    public static let commandKinds = ["put", "get", "delete"]
    var model: [Int: Int] = [:]
    let store = StoreDroppingEighthKey()

    public init() {}

    public mutating func drawCommand(_ stream: ChoiceStream, enabled: KindSet) -> Command {
        let kind = stream.drawWeightedIndex(enabled.mask([3, 2, 1]))
        let key = Int(stream.draw(upTo: 20))
        switch kind {
        case 0: return .put(key: key, value: Int(stream.draw(upTo: 100)))
        case 1: return .get(key: key)
        default: return .delete(key: key)
        }
    }

    public func kind(of command: Command) -> Int {
        switch command {
        case .put: 0
        case .get: 1
        case .delete: 2
        }
    }

    public mutating func step(_ command: Command) -> StepResult {
        switch command {
        case .put(let key, let value):
            model[key] = value
            store.put(key, value)
            return .agreed(outcome: "ok", accepted: true)
        case .get(let key):
            let expected = model[key], actual = store.get(key)
            if expected != actual {
                return .disagreed(message: "get(\(key)): model \(String(describing: expected)), store \(String(describing: actual))")
            }
            return .agreed(outcome: actual == nil ? "absent" : "present", accepted: true)
        case .delete(let key):
            model[key] = nil
            store.delete(key)
            return .agreed(outcome: "ok", accepted: true)
        }
    }

    public func describe(_ command: Command) -> String { "\(command)" }
}

/// An account whose withdraw is wrong, checked by a generator that only ever asks for more than
/// the balance: every withdraw is rejected, so the bug is never reached and the run is vacuous.
public struct VacuousAccountMachine: StateMachine {
    public enum Command { case withdraw(Int), balance }
    public static let commandKinds = ["withdraw", "balance"]
    var modelBalance = 10
    var accountBalance = 10

    public init() {}

    public mutating func drawCommand(_ stream: ChoiceStream, enabled: KindSet) -> Command {
        stream.drawWeightedIndex([9, 1]) == 0 ? .withdraw(modelBalance + 1 + Int(stream.draw(upTo: 50))) : .balance
    }

    public func kind(of command: Command) -> Int {
        if case .withdraw = command { return 0 }
        return 1
    }

    public mutating func step(_ command: Command) -> StepResult {
        switch command {
        case .withdraw(let amount):
            guard amount <= modelBalance else { return .agreed(outcome: "insufficient funds", accepted: false) }
            modelBalance -= amount
            accountBalance -= amount + 1  // the bug: an extra unit taken on every withdraw
            return .agreed(outcome: "ok", accepted: true)
        case .balance:
            if modelBalance != accountBalance { return .disagreed(message: "balance \(accountBalance), expected \(modelBalance)") }
            return .agreed(outcome: "ok", accepted: false)
        }
    }

    public func describe(_ command: Command) -> String { "\(command)" }
}
