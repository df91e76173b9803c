#include "services/audit/store/checkpoint_directory.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "services/audit/core/canonical.h"
#include "services/audit/core/signer.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"

namespace hie::audit {
namespace {

namespace fs = std::filesystem;

absl::Status WriteFileDurably(const fs::path& path, const std::string& contents) {
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot write ", tmp.filename().string()));
  bool ok =
      ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()) &&
      ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot write ", path.filename().string()));
  }
  int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path.filename().string()));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

std::string CheckpointToText(const v1::Checkpoint& c) {
  return absl::StrCat("hie-audit-checkpoint 1\nsequence ", c.sequence(), "\nhead_hash ",
                      HexEncode(c.head_hash()), "\ncreate_time_ns ",
                      TimestampNanos(c.create_time()), "\nkey_id ", c.key_id(),
                      "\nsignature_algorithm ", c.signature_algorithm(), "\nsignature ",
                      HexEncode(c.signature()), "\n");
}

absl::StatusOr<v1::Checkpoint> CheckpointFromText(std::string_view text) {
  std::map<std::string, std::string> fields;
  bool first = true;
  const std::string all(text);
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(all, '\n', absl::SkipEmpty()))) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (first && (kv.first != "hie-audit-checkpoint" || kv.second != "1")) break;
    first = false;
    fields[kv.first] = kv.second;
  }
  v1::Checkpoint c;
  int64_t sequence = 0, nanos = 0;
  std::string hash, signature;
  if (first || !absl::SimpleAtoi(fields["sequence"], &sequence) ||
      !absl::SimpleAtoi(fields["create_time_ns"], &nanos) ||
      fields["head_hash"].size() != 2 * kHashSize || fields["key_id"].empty()) {
    return absl::InvalidArgumentError("checkpoint file: malformed");
  }
  hash = absl::HexStringToBytes(fields["head_hash"]);
  signature = absl::HexStringToBytes(fields["signature"]);
  c.set_sequence(sequence);
  c.set_head_hash(hash);
  c.mutable_create_time()->set_seconds(nanos / 1'000'000'000);
  c.mutable_create_time()->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
  c.set_key_id(fields["key_id"]);
  c.set_signature_algorithm(fields["signature_algorithm"]);
  c.set_signature(signature);
  return c;
}

absl::StatusOr<std::unique_ptr<DirectoryCheckpointArchive>> DirectoryCheckpointArchive::Open(
    const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("checkpoint-dir is empty");
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "checkpoints", ec);
  if (!ec) fs::create_directories(fs::path(dir) / "keys", ec);
  if (ec) return absl::UnavailableError("checkpoint-dir: cannot create its directories");
  return std::unique_ptr<DirectoryCheckpointArchive>(new DirectoryCheckpointArchive(dir));
}

absl::Status DirectoryCheckpointArchive::Write(const v1::Checkpoint& checkpoint) {
  return WriteFileDurably(
      fs::path(dir_) / "checkpoints" / absl::StrFormat("%020d.chk", checkpoint.sequence()),
      CheckpointToText(checkpoint));
}

absl::Status DirectoryCheckpointArchive::WriteKey(const v1::SigningKey& key) {
  for (char c : key.key_id()) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError("key_id must be hexadecimal");
    }
  }
  return WriteFileDurably(fs::path(dir_) / "keys" / (key.key_id() + ".pem"), key.public_key_pem());
}

absl::StatusOr<std::vector<int64_t>> DirectoryCheckpointArchive::Sequences() {
  std::vector<int64_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(dir_) / "checkpoints", ec)) {
    std::string name = entry.path().filename().string();
    int64_t sequence = 0;
    if (name.size() == 24 && name.ends_with(".chk") &&
        absl::SimpleAtoi(name.substr(0, 20), &sequence)) {
      out.push_back(sequence);
    }
  }
  if (ec) return absl::UnavailableError("checkpoint-dir: cannot list checkpoints");
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<v1::Checkpoint>> DirectoryCheckpointArchive::In(int64_t from,
                                                                           int64_t to) {
  HIE_ASSIGN_OR_RETURN(std::vector<int64_t> sequences, Sequences());
  std::vector<v1::Checkpoint> out;
  for (int64_t sequence : sequences) {
    if (sequence < from || sequence > to) continue;
    std::string name = absl::StrFormat("%020d.chk", sequence);
    absl::StatusOr<std::string> text = ReadFile(fs::path(dir_) / "checkpoints" / name);
    absl::StatusOr<v1::Checkpoint> c =
        text.ok() ? CheckpointFromText(*text) : absl::StatusOr<v1::Checkpoint>(text.status());
    if (!c.ok() || c->sequence() != sequence) {
      Log(LogLevel::kError, "checkpoint_file_unreadable", {{"file", name}});
      continue;
    }
    out.push_back(*std::move(c));
  }
  return out;
}

absl::StatusOr<std::optional<v1::Checkpoint>> DirectoryCheckpointArchive::Latest() {
  HIE_ASSIGN_OR_RETURN(std::vector<int64_t> sequences, Sequences());
  for (auto it = sequences.rbegin(); it != sequences.rend(); ++it) {
    HIE_ASSIGN_OR_RETURN(std::vector<v1::Checkpoint> one, In(*it, *it));
    if (!one.empty()) return one.front();
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<v1::SigningKey>> DirectoryCheckpointArchive::Keys() {
  std::vector<v1::SigningKey> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(dir_) / "keys", ec)) {
    if (entry.path().extension() != ".pem") continue;
    absl::StatusOr<std::string> pem = ReadFile(entry.path());
    if (!pem.ok()) continue;
    absl::StatusOr<std::string> key_id = KeyIdOfPublicKey(*pem);  // from the key, not the name
    if (!key_id.ok()) {
      Log(LogLevel::kError, "checkpoint_key_unreadable",
          {{"file", entry.path().filename().string()}});
      continue;
    }
    v1::SigningKey key;
    key.set_key_id(*key_id);
    key.set_signature_algorithm("ED25519");
    key.set_public_key_pem(*pem);
    out.push_back(std::move(key));
  }
  if (ec) return absl::UnavailableError("checkpoint-dir: cannot list keys");
  return out;
}

}  // namespace hie::audit
