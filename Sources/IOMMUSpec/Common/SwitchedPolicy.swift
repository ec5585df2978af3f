/// One rule switch of a surface's policy: the values it takes as spelled in policy names, and
/// the rule each value states. `iommu-check explain`, policy names on the command line and in
/// traces, and the evidence tables of docs/SEMANTICS.md are all generated from these.
public struct PolicySwitch<Policy>: Sendable {
    public let name: String
    /// The values it takes, as spelled in policy names.
    public let values: [String]
    let get: @Sendable (Policy) -> String
    let set: @Sendable (inout Policy, String) -> Bool
    /// The rule a value states, in one sentence (nil: the value adds no rule).
    public let rule: @Sendable (String) -> String?

    public init(name: String, values: [String], get: @escaping @Sendable (Policy) -> String, set: @escaping @Sendable (inout Policy, String) -> Bool, rule: @escaping @Sendable (String) -> String?) {
        self.name = name
        self.values = values
        self.get = get
        self.set = set
        self.rule = rule
    }

    public func value(of policy: Policy) -> String { get(policy) }

    /// Sets the switch to a value as spelled; false if it is not one of `values`.
    public func assign(_ value: String, to policy: inout Policy) -> Bool { set(&policy, value) }

    /// A yes/no switch.
    public static func flag(_ name: String, _ path: WritableKeyPath<Policy, Bool> & Sendable, yes: String?, no: String?) -> PolicySwitch {
        PolicySwitch(name: name, values: ["yes", "no"], get: { $0[keyPath: path] ? "yes" : "no" },
                     set: { policy, text in
                         guard text == "yes" || text == "no" else { return false }
                         policy[keyPath: path] = text == "yes"
                         return true
                     }, rule: { $0 == "yes" ? yes : no })
    }

    /// A switch over the cases of an enumeration, spelled by their raw values.
    public static func choice<T: RawRepresentable & CaseIterable & Sendable>(_ name: String, _ path: WritableKeyPath<Policy, T> & Sendable, _ rule: @escaping @Sendable (T) -> String?) -> PolicySwitch where T.RawValue == String {
        PolicySwitch(name: name, values: T.allCases.map(\.rawValue), get: { $0[keyPath: path].rawValue },
                     set: { policy, text in
                         guard let value = T(rawValue: text) else { return false }
                         policy[keyPath: path] = value
                         return true
                     }, rule: { T(rawValue: $0).flatMap(rule) })
    }
}

/// A policy built from rule switches, with named presets (each the contract of one real system).
public protocol SwitchedPolicy: Equatable, Sendable {
    static var switches: [PolicySwitch<Self>] { get }
    static var presets: [(name: String, policy: Self)] { get }
    /// Parses a policy as spelled (`PRESET` or `PRESET:SWITCH=VALUE,...`). Default:
    /// `init(parsingSwitches:)` over the presets.
    init(parsing text: String) throws(ConfigurationProblem)
}

extension SwitchedPolicy {
    public init(parsing text: String) throws(ConfigurationProblem) {
        try self.init(parsingSwitches: text)
    }

    public static var presetNames: [String] { presets.map(\.name) }

    public init?(named name: String) {
        guard let preset = Self.presets.first(where: { $0.name == name }) else { return nil }
        self = preset.policy
    }

    /// Every rule this policy states, one sentence each, in switch order.
    public var rules: [String] { Self.switches.compactMap { $0.rule($0.value(of: self)) } }

    /// A copy with some switches changed.
    public func with(_ change: (inout Self) -> Void) -> Self {
        var copy = self
        change(&copy)
        return copy
    }

    /// Parses `PRESET` or `PRESET:SWITCH=VALUE,...`; `base` may name more than the presets.
    public init(parsingSwitches text: String, base: (String) -> Self? = { Self(named: $0) }) throws(ConfigurationProblem) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard let name = parts.first, !name.isEmpty else { throw ConfigurationProblem("an empty policy name; expected one of \(Self.presetNames.joined(separator: ", "))") }
        guard let preset = base(name) else {
            throw ConfigurationProblem("'\(name)' is not a policy; expected one of \(Self.presetNames.joined(separator: ", ")), optionally followed by :SWITCH=VALUE,...")
        }
        self = preset
        guard parts.count == 2 else { return }
        for assignment in parts[1].split(separator: ",").map(String.init) {
            let pair = assignment.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, let item = Self.switches.first(where: { $0.name == pair[0] }) else {
                throw ConfigurationProblem("'\(assignment)' is not SWITCH=VALUE; switches: \(Self.switches.map(\.name).joined(separator: ", "))")
            }
            guard item.set(&self, pair[1]) else {
                throw ConfigurationProblem("'\(pair[1])' is not a value of \(item.name); expected one of \(item.values.joined(separator: ", "))")
            }
        }
    }

    /// The name that parses back to this policy: the preset with the fewest differing switches,
    /// and those switches as overrides.
    public var spelled: String {
        var best: (name: String, overrides: [String])?
        for (name, preset) in Self.presets {
            let overrides = Self.switches.filter { $0.value(of: preset) != $0.value(of: self) }.map { "\($0.name)=\($0.value(of: self))" }
            if let current = best, overrides.count >= current.overrides.count { continue }
            best = (name, overrides)
        }
        guard let best else { return "" }
        return best.overrides.isEmpty ? best.name : best.name + ":" + best.overrides.joined(separator: ",")
    }

    /// The preset's name, or the nearest preset with its overrides (`spelled`).
    public var presetName: String { Self.presets.first(where: { $0.policy == self })?.name ?? spelled }
}
