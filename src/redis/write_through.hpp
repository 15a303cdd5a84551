// Write-through sending: one operation, with its EXPIREs, in one round trip on the calling
// thread's own connection, before the operation returns.
#pragma once

#include <cstddef>
#include <string>

#include "config.hpp"
#include "health.hpp"
#include "key_layout.hpp"
#include "native.hpp"
#include "pytheus/exemplar.hpp"
#include "sentinel.hpp"

namespace pytheus::detail::redis {

class Connection;

// What became of an operation: delivered, not sent (keep it as a delta), or sent on a
// connection that then broke, so that whether Redis applied it is unknown (count it dropped:
// sending it again could apply it twice).
enum class Sent { ok, not_sent, ambiguous };

class WriteThrough {
 public:
  WriteThrough(const Config& cfg, Health& health, Locator& locator);

  // INCRBYFLOAT/HINCRBYFLOAT (SET/HSET with `set`) and EXPIRE. `created` (not 0): the
  // series' creation time, sent set-if-absent (Keys::created_key). With an exemplar (a
  // counter's), all of it in one MULTI/EXEC.
  Sent send_value(const Keys& k, bool set, double v, double created,
                  const ExemplarData* e = nullptr);
  // One observation as a MULTI/EXEC: the buckets from `bucket` up, count, sum, the creation
  // time as above, the exemplar of `bucket` when there is one, EXPIREs. `native`: the
  // observation's native bucket, for a histogram with native buckets.
  Sent send_observe(const Keys& k, std::size_t bucket, double v, double created,
                    const ExemplarData* e = nullptr, const NativeDelta* native = nullptr);

 private:
  Connection* thread_conn();
  Sent finish_round_trip(Connection& c, std::size_t replies, std::size_t exec_at);
  void failed(Connection& c);
  // The creation time (when not 0) and the EXPIRE of the created key; the commands added.
  std::size_t append_created(Connection& c, const Keys& k, double created);

  const Config& cfg_;
  Health& health_;
  Locator& locator_;
  const std::string ttl_;
};

}  // namespace pytheus::detail::redis
