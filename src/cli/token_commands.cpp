#include "cli/token_commands.h"

#include <taskmill/clock.h>
#include <taskmill/storage.h>

#include <boost/json.hpp>
#include <iostream>
#include <memory>

#include "api/auth.h"
#include "cli/global_options.h"
#include "cli/server_config.h"

namespace taskmill::cli {
namespace {
namespace json = boost::json;

struct TokenOptions {
  ServerFlags server;
  std::string name;
  std::string account;
  bool admin = false;
  bool json = false;
};

int Fail(const Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  return 2;
}

Result<std::unique_ptr<Storage>> Open(const TokenOptions& o) {
  auto cfg = LoadServerConfig(o.server);
  if (!cfg.ok()) return cfg.status();
  return OpenStorage({.url = config::StorageUrl(cfg->server)});
}

json::object TokenJson(const ApiToken& token) {
  return {{"name", token.name},
          {"account", token.account_id},
          {"admin", token.admin},
          {"created_at", TimeToJson(token.created_at)}};
}

int Create(const TokenOptions& o) {
  if (!o.admin && o.account.empty()) {
    return Fail(Status::InvalidArgument("give --account NAME (an account token) or --admin"));
  }
  auto storage = Open(o);
  if (!storage.ok()) return Fail(storage.status());
  std::string secret;
  auto token =
      api::CreateToken(**storage, o.name, o.account, o.admin, SystemClock().Now(), &secret);
  if (!token.ok()) return Fail(token.status());
  if (o.json) {
    json::object out = TokenJson(*token);
    out["token"] = secret;
    std::cout << json::serialize(out) << "\n";
  } else {
    std::cout << secret << "\n";
    std::cerr << "token '" << token->name << "' created"
              << (token->admin ? " (admin" : " (account " + token->account_id)
              << (token->admin && !token->account_id.empty() ? ", account " + token->account_id
                                                             : "")
              << "). It is shown only now: keep it somewhere safe.\n";
  }
  return 0;
}

int List(const TokenOptions& o) {
  auto storage = Open(o);
  if (!storage.ok()) return Fail(storage.status());
  auto tokens = (*storage)->TokenList();
  if (!tokens.ok()) return Fail(tokens.status());
  if (o.json) {
    json::array out;
    for (const ApiToken& token : *tokens) out.push_back(TokenJson(token));
    std::cout << json::serialize(json::object{{"tokens", out}}) << "\n";
    return 0;
  }
  if (tokens->empty()) {
    std::cout << "no tokens: the API answers without authentication on loopback only\n";
    return 0;
  }
  std::printf("%-24s %-16s %-6s %s\n", "NAME", "ACCOUNT", "ADMIN", "CREATED");
  for (const ApiToken& token : *tokens) {
    std::printf("%-24s %-16s %-6s %s\n", token.name.c_str(),
                token.account_id.empty() ? "-" : token.account_id.c_str(),
                token.admin ? "yes" : "no", FormatTime(token.created_at).c_str());
  }
  return 0;
}

int Revoke(const TokenOptions& o) {
  auto storage = Open(o);
  if (!storage.ok()) return Fail(storage.status());
  if (Status s = api::RevokeToken(**storage, o.name); !s.ok()) return Fail(s);
  std::cout << "token " << o.name << " revoked\n";
  return 0;
}

}  // namespace

void AddTokenCommands(CLI::App& app) {
  auto* token = app.add_subcommand("token", "Create, list and revoke API tokens");
  token->require_subcommand(1);

  auto create = std::make_shared<TokenOptions>();
  auto* c = token->add_subcommand("create", "Make a token and print it (once)");
  c->add_option("--account", create->account, "Account the token acts for");
  c->add_flag("--admin", create->admin, "May act for any account and manage the server");
  c->add_option("--name", create->name, "Name to list and revoke it by (default: generated)");
  AddServerFlags(c, &create->server);
  c->callback([create] {
    create->json = JsonRequested();  // --json: name, account, admin and token as JSON
    throw CLI::RuntimeError(Create(*create));
  });

  auto list = std::make_shared<TokenOptions>();
  auto* l = token->add_subcommand("list", "List tokens (names and accounts, never secrets)");
  AddServerFlags(l, &list->server);
  l->callback([list] {
    list->json = JsonRequested();
    throw CLI::RuntimeError(List(*list));
  });

  auto revoke = std::make_shared<TokenOptions>();
  auto* r = token->add_subcommand("revoke", "Revoke a token by name (takes effect within 1 s)");
  r->add_option("NAME", revoke->name, "Token name")->required();
  AddServerFlags(r, &revoke->server);
  r->callback([revoke] { throw CLI::RuntimeError(Revoke(*revoke)); });
}

}  // namespace taskmill::cli
