// SPDX-License-Identifier: MIT
// Per-peer session state machine (see session.hh).
