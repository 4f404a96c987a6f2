// A QFT-like ladder of controlled phases on 12 qubits (OpenQASM 2). None is Clifford: cp(π/2) is a
// controlled-S (cp(π) would be CZ), and cp(π/4), cp(π/8) are smaller still, so this circuit is compiled
// (partitioned and scheduled like any other) but flagged non-Clifford and cannot be executed.
OPENQASM 2.0;
include "qelib1.inc";
qreg q[12];
creg c[12];
h q;
cp(pi/2) q[0],q[1]; cp(pi/4) q[0],q[2]; cp(pi/8) q[0],q[3];
cp(pi/2) q[1],q[2]; cp(pi/4) q[1],q[3]; cp(pi/8) q[1],q[4];
cp(pi/2) q[2],q[3]; cp(pi/4) q[2],q[4]; cp(pi/8) q[2],q[5];
cp(pi/2) q[3],q[4]; cp(pi/4) q[3],q[5]; cp(pi/8) q[3],q[6];
cp(pi/2) q[4],q[5]; cp(pi/4) q[4],q[6]; cp(pi/8) q[4],q[7];
cp(pi/2) q[5],q[6]; cp(pi/4) q[5],q[7]; cp(pi/8) q[5],q[8];
cp(pi/2) q[6],q[7]; cp(pi/4) q[6],q[8]; cp(pi/8) q[6],q[9];
cp(pi/2) q[7],q[8]; cp(pi/4) q[7],q[9]; cp(pi/8) q[7],q[10];
cp(pi/2) q[8],q[9]; cp(pi/4) q[8],q[10]; cp(pi/8) q[8],q[11];
cp(pi/2) q[9],q[10]; cp(pi/4) q[9],q[11];
cp(pi/2) q[10],q[11];
measure q -> c;
