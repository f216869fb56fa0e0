// guard.cpp - placeholder until its issue lands.
