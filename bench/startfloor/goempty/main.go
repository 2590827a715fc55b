// Command goempty does nothing: bench/run.sh's "floor" phase runs it the way
// pipe(8) runs deliver, so the table shows what starting any statically
// linked Go process costs on this machine, before deliver does any work.
package main

func main() {}
