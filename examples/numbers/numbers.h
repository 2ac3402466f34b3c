// examples/numbers — Kazoo-style number management written as taskmill bulk functions
// (Kazoo's kt_numbers, made small). `taskmill serve` registers them; docs/bulk.md walks
// through them.
//
//   numbers.import   CSV. Mandatory e164; optional account_id, carrier, state.
//                    Verifiers: e164 is '+' and 7 to 15 digits, account_id is 32
//                    hexadecimal characters, state is one of kNumberStates. Adds each
//                    number to the example's table; a number already there is an
//                    error for its row. Fills in a missing state ("available").
//   numbers.list     No input: an iterator that writes every number, 1,000 per call,
//                    its state being the last number written.
//   numbers.release  CSV. Mandatory e164. Removes each number; an unknown number is
//                    an error for its row.
//
// The numbers live in a table of the example's own, in a SQLite file of its own (not
// taskmill's database, whose writes belong to taskmill's writer thread). The functions
// may run in several runs at once; the table is shared through one connection behind
// a mutex.
#pragma once

#include <taskmill/bulk.h>
#include <taskmill/function.h>

#include <memory>
#include <string>

namespace taskmill::examples {

inline constexpr const char* kNumberStates[] = {"available", "reserved", "in_service", "port_in",
                                                "port_out"};

struct NumberFunctionsOptions {
  // The SQLite file of the numbers table, created if missing (with its directory),
  // e.g. <data_dir>/numbers.db.
  std::string database;
  // Rows per numbers.list call. Default: 1000.
  int list_page = 1000;
};

// Registers numbers.import, numbers.list and numbers.release. Fails when the database
// cannot be opened or a name is taken.
Status RegisterNumberFunctions(FunctionRegistry& registry, std::shared_ptr<BulkRuntime> runtime,
                               NumberFunctionsOptions options);

}  // namespace taskmill::examples
