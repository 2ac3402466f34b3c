// api/openapi.h — the OpenAPI 3.1 document of the HTTP API, served at
// GET /api/v1/openapi.json.
//
// The document is written by hand in src/api/openapi.json (the machine-readable
// reference beside docs/api.md) and compiled into the library by
// cmake/EmbedFile.cmake, so a binary always serves the document of its own routes
// and needs no file at run time. openapi_test.cpp fails when a route the server
// registers is missing from it.
#pragma once

#include <string_view>

namespace taskmill::api {

// The JSON text of src/api/openapi.json, byte for byte. Valid for the program's life.
std::string_view OpenApiDocument();

}  // namespace taskmill::api
