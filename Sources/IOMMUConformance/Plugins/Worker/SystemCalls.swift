#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The C library's calls whose names a type here also uses (`open`, `read`, `kill`), reached
// without naming the C library's module, so the worker builds on glibc and on Darwin alike.

func systemOpen(_ path: String, _ flags: Int32) -> Int32 { open(path, flags) }

func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int { read(descriptor, buffer, count) }

func systemKill(_ pid: pid_t, _ signal: Int32) -> Int32 { kill(pid, signal) }
