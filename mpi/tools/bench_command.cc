namespace hie::mpi::cli { struct Args; int RunBench(const Args&) { return 1; } }
