// cli/web_assets.h — the files of the built web UI (web/dist), embedded in the binary
// by cmake/EmbedWeb.cmake, which generates the definition of Assets().
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace taskmill::web {

struct Asset {
  std::string_view content_type;
  std::string_view body;
  std::string_view gzip;  // `body` compressed by gzip -9 -n; empty when not compressed
};

// Path ("/index.html", "/assets/app-HASH.js") → file.
const std::map<std::string, Asset, std::less<>>& Assets();

}  // namespace taskmill::web
