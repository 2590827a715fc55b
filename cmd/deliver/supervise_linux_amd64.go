package main

// entry is the ELF entry point of a deliver linked with
// -ldflags=-E=main.entry (supervise_linux_amd64.s); never called from Go.
func entry()
