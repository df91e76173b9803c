#include "services/common/pg/sql_text.h"

#include <pqxx/except>
#include <pqxx/nontransaction>

namespace hie::pg {
namespace {

// Appends `text` as one quoted element of an array literal.
void AppendElement(const std::string& text, std::string* out) {
  *out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') *out += '\\';
    *out += c;
  }
  *out += '"';
}

}  // namespace

std::string Sql::Literal(const std::string& v) {
  try {
    // libpq's escaping stops at a NUL byte: the text would be cut short, silently.
    if (v.find('\0') != std::string::npos) throw pqxx::argument_error("text with a NUL byte");
    // What conn_.quote(v) does, without its "'" + std::string&& (which trips gcc 12's
    // -Wrestrict false positive at -O3).
    std::string out = "'";
    out += conn_.esc(v);
    out += '\'';
    return out;
  } catch (...) {
    if (error_ == nullptr) error_ = std::current_exception();
    return "NULL";
  }
}

std::string Sql::Literal(const Bytea& v) {
  return conn_.quote_raw(reinterpret_cast<const unsigned char*>(v.bytes.data()), v.bytes.size());
}

std::string TextArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    AppendElement(items[i], &out);
  }
  out += '}';
  return out;
}

std::string ByteaArray(const std::vector<std::string>& items) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t size = 2;
  for (const std::string& item : items) size += 2 * item.size() + 6;
  std::string out;
  out.reserve(size);
  out += '{';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += "\"\\\\x";  // "\\x: the element's backslash, escaped
    for (unsigned char c : items[i]) {
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    out += '"';
  }
  out += '}';
  return out;
}

void PrepareStatements(pqxx::connection& conn, absl::string_view settings,
                       const StatementList& statements) {
  std::string sql = "DEALLOCATE ALL";
  if (!settings.empty()) absl::StrAppend(&sql, "; ", settings);
  for (const auto& [name, statement] : statements) {
    absl::StrAppend(&sql, "; PREPARE ", name, " AS ", statement);
  }
  pqxx::nontransaction(conn).exec(sql);
}

void PreparedConnections::Ensure(pqxx::connection& conn,
                                 const std::function<void(pqxx::connection&)>& prepare) {
  const std::pair<const void*, int> key(&conn, conn.backendpid());
  {
    std::lock_guard lock(mu_);
    if (prepared_.count(key) > 0) return;
  }
  prepare(conn);
  std::lock_guard lock(mu_);
  prepared_.insert(key);
}

}  // namespace hie::pg
