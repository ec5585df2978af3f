// The header is the whole target (static inline); SwiftPM needs one source file.
