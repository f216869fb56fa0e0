// sock_diag.cpp - placeholder until its issue lands.
