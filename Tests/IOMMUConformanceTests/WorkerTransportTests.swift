import Foundation
@testable import IOMMUConformance
import IOMMUSpec
import Testing

/// The worker protocol's own parts: frames through the shared slots and the pipe, and the
/// checks the checker makes of what a worker's copy of a host reports.
@Suite struct WorkerTransportTests {
    /// Two channels joined by two pipes and one shared region, as a checker and its worker are.
    private func joinedChannels() throws -> (checker: FrameChannel, worker: FrameChannel, close: () -> Void) {
        var toWorker: [Int32] = [0, 0], toChecker: [Int32] = [0, 0]
        #expect(pipe(&toWorker) == 0 && pipe(&toChecker) == 0)
        let shared = try #require(SharedFrames.create())
        let mapped = try #require(SharedFrames.attach(path: shared.path))
        shared.unlinkName()
        #expect(shared.workerMapped)
        let checker = FrameChannel(input: toChecker[0], output: toWorker[1])
        let worker = FrameChannel(input: toWorker[0], output: toChecker[1])
        checker.attach(shared, toWorker: true)
        worker.attach(mapped, toWorker: false)
        return (checker, worker, { for fd in toWorker + toChecker { close(fd) } })
    }

    @Test func smallFramesGoThroughTheSlotAndLargeOnesThroughThePipeInOrder() throws {
        let (checker, worker, close) = try joinedChannels()
        defer { close() }
        let large = (0..<(SharedFrames.slotBytes / 8 + 10)).map { UInt64($0) * 3 }
        for frame in [[1, 2, 3], [], large, [7]] as [[UInt64]] {
            // A frame larger than a pipe's buffer needs its reader running while it is written.
            nonisolated(unsafe) let (sender, answerer) = (checker, worker)
            Thread { #expect(sender.send(frame)) }.start()
            #expect(try worker.receive(timeout: 5).get() == frame)
            Thread { #expect(answerer.send(frame.reversed())) }.start()
            #expect(try checker.receive(timeout: 5).get() == frame.reversed())
        }
    }

    @Test func aFrameThatFitsTakesTheSlot() throws {
        let (checker, worker, close) = try joinedChannels()
        defer { close() }
        let sequence = checker.shared?.outgoing.sequence
        #expect(checker.send([5, 6]))
        #expect(sequence?.pointee == 1)
        #expect(try worker.receive(timeout: 5).get() == [5, 6])
    }

    /// Many round trips, each side sometimes slow to answer, so receivers both find the frame
    /// at once, while spinning, and after falling asleep (no wake-up lost, none out of order).
    @Test func manyRoundTripsLoseNoWakeUp() throws {
        let (checker, worker, close) = try joinedChannels()
        defer { close() }
        nonisolated(unsafe) let answerer = worker
        let rounds = 3_000
        let echo = Thread {
            for round in 0..<rounds {
                guard case .success(let frame) = answerer.receive(timeout: 10) else { return }
                if round % 97 == 0 { usleep(2_000) }
                _ = answerer.send(frame.map { $0 + 1 })
            }
        }
        echo.start()
        for round in 0..<rounds {
            if round % 89 == 0 { usleep(2_000) }
            #expect(checker.send([UInt64(round), 7]))
            guard case .success(let answer) = checker.receive(timeout: 10) else { Issue.record("round \(round) got no answer"); return }
            #expect(answer == [UInt64(round) + 1, 8])
        }
    }

    @Test func aReceiverAsleepOnThePipeIsWokenByAFrameInTheSlot() throws {
        let (checker, worker, close) = try joinedChannels()
        defer { close() }
        nonisolated(unsafe) let channel = checker
        let sender = Thread {
            usleep(100_000)
            _ = channel.send([42])
        }
        sender.start()
        let started = ContinuousClock.now
        #expect(try worker.receive(timeout: 5).get() == [42])
        #expect(ContinuousClock.now - started < .seconds(4))
    }

    @Test func nothingArrivingIsATimeoutAndAClosedPipeIsClosed() throws {
        var toWorker: [Int32] = [0, 0], toChecker: [Int32] = [0, 0]
        #expect(pipe(&toWorker) == 0 && pipe(&toChecker) == 0)
        defer { for fd in [toWorker[0], toWorker[1], toChecker[0]] { close(fd) } }
        let shared = try #require(SharedFrames.create())
        shared.unlinkName()
        let checker = FrameChannel(input: toChecker[0], output: toWorker[1])
        checker.attach(shared, toWorker: true)
        guard case .failure(.timedOut) = checker.receive(timeout: 0.1) else { Issue.record("no timeout"); return }
        close(toChecker[1])
        guard case .failure(.closed) = checker.receive(timeout: 1) else { Issue.record("a closed pipe was not seen"); return }
    }

    @Test func aSlotWhoseCountDisagreesWithItsLengthIsRefused() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { for fd in fds { close(fd) } }
        let shared = try #require(SharedFrames.create())
        shared.unlinkName()
        let receiver = FrameChannel(input: fds[0], output: fds[1])
        receiver.attach(shared, toWorker: false)
        // The worker's incoming slot, as a scribbling plug-in could leave it.
        let slot = shared.slot(toWorker: true)
        slot.data.storeBytes(of: UInt64(1000), as: UInt64.self)
        slot.length.pointee = 16
        slot.sequence.pointee = 1
        guard case .failure(.malformed(let what)) = receiver.receive(timeout: 1) else { Issue.record("a garbled slot was taken"); return }
        #expect(what.contains("1000 words"))
    }

    private func host(vectors: Int = 4) -> InterruptHost { InterruptHost(configuration: InterruptConfiguration(vectors: vectors, dynamicAllocation: false)) }

    @Test func aWorkerHostThatAgreesReplaysCleanly() {
        let host = host()
        let events: [InterruptHostEvent] = [.enable(count: 2, status: 0), .raise(vector: 1, pasid: 0, fate: .signalled),
                                            .deliver(vector: 1, address: 0xfee0_0000, data: 0x41), .returned]
        #expect(InterruptHostEvent.replay(events[...], scheduled: [(1, 0, 1)], on: host) == nil)
        #expect(host.deliveries.count == 1 && host.allocated == 2)
        // The pending read's own events come after the operation returned; a raise there was
        // never scheduled.
        #expect(InterruptHostEvent.replay([.latchedBits(0)], scheduled: [], on: host, afterReturn: true) == nil)
        #expect(InterruptHostEvent.replay([.raise(vector: 0, pasid: 0, fate: .latched)], scheduled: [], on: host, afterReturn: true) != nil)
    }

    @Test(arguments: [
        // An answer the checker's host would not give.
        ([.takeLatched(vector: 0, taken: 1), .returned], [], "the checker's host"),
        ([.enable(count: 9, status: 0), .returned], [], "the checker's host"),
        // A raise nobody scheduled, one made before it was due, one never made.
        ([.raise(vector: 0, pasid: 0, fate: .latched), .returned], [], "was not scheduled then"),
        ([.raise(vector: 0, pasid: 0, fate: .latched), .enable(count: 1, status: 0), .returned], [(0, 0, 1)], "was not scheduled then"),
        ([.enable(count: 1, status: 0), .returned], [(0, 0, 1)], "was never made"),
        // A fate this host does not give (vector 2 has no host vector: latched, not signalled).
        ([.enable(count: 1, status: 0), .raise(vector: 2, pasid: 0, fate: .signalled), .returned], [(2, 0, 1)], "the checker's host"),
        ([.enable(count: 1, status: 0)], [], "never returned"),
    ] as [([InterruptHostEvent], [(Int, UInt32, Int)], String)])
    func aWorkerHostThatDivergesIsCaught(events: [InterruptHostEvent], scheduled: [(Int, UInt32, Int)], problem: String) throws {
        let found = try #require(InterruptHostEvent.replay(events[...], scheduled: scheduled.map { ($0.0, $0.1, $0.2) }, on: host()))
        #expect(found.contains(problem), "\(found)")
    }

    @Test func everyHostEventSurvivesItsWords() {
        let events: [InterruptHostEvent] = [.enable(count: 3, status: 1), .disable, .grow(count: 5, status: 0), .allocated(2), .setTrigger(vector: 1),
                                            .setPASID(vector: 2, pasid: 7), .setPASID(vector: 2, pasid: nil), .latchedBits(0b101),
                                            .takeLatched(vector: 1, taken: 1), .deliver(vector: 3, address: 0xfee0_1000, data: 9),
                                            .raise(vector: 3, pasid: 4, fate: .rejected), .returned, .readingPending]
        for event in events { #expect(InterruptHostEvent(event.words[...]) == event) }
        #expect(InterruptHostEvent([12, 0, 0, 0, 0]) == nil)
        #expect(InterruptHostEvent([9, 0, 0, 0, 3]) == nil)
    }
}
