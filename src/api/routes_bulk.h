// api/routes_bulk.h — the routes of bulk CSV runs (docs/bulk.md, docs/api.md):
//
//   POST /api/v1/runs?function=F[&queue=&id=&priority=&conflict=&name=]
//        Content-Type: text/csv — the body is the input CSV. It is staged in storage
//        as it arrives (never whole in memory), validated, and stored with its run in
//        one commit: 201 with the run, or 400 invalid_csv listing every problem
//        ({"errors": [{"line", "column"?, "message"}], "error_count"}), 413 too_large
//        beyond the function's max_file_size. Nothing is stored on rejection.
//        Content-Type: application/json — the body is {"records": [{...}, ...]}
//        (Kazoo's JSON form), converted to CSV and handled the same way.
//   GET  /api/v1/runs/{id}/input.csv   the input as uploaded
//   GET  /api/v1/runs/{id}/output.csv  the output so far (final once the run is)
//        Both streamed (chunked), `?queue=` optional; 404 when the run has no file.
//
// A POST to /api/v1/runs without ?function= and with a JSON body is an ordinary run
// (routes_runs.cpp). Handlers hold no state; safe on any io thread.
#pragma once

#include "api/router.h"
#include "api/routes.h"

namespace taskmill::api {

void AddBulkRoutes(Router& router, RouteContext context);

}  // namespace taskmill::api
