// The header is the whole target; SwiftPM needs one source file.
