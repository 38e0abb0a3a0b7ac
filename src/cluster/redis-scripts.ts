/**
 * The Lua scripts the Redis backend runs. Each runs atomically in Redis, so a turn's changes (session
 * state, retained messages, route changes, the inbox appends of messages for other nodes, the inbox
 * checkpoint) are applied together or not at all, and a session's owner check and the writes it guards
 * cannot be interleaved with a take-over.
 *
 * Keys (below the prefix): `nodes` (hash node -> info), `hb:N` (heartbeat, with a TTL), `adopt:N` (the lock
 * of whoever takes over a dead node), `epoch` (counter of session take-overs), `o:C` (owner of client C's
 * session: `node|epoch`), `s:C` (the session: `session`, `sub:K`, `d:SEQ` + `p:SEQ`, `q2:ID`), `w:C` (the
 * will of a connected client whose session is not stored), `own:N` (client ids node N owns), `r:N` (route
 * keys of node N: filters, `$share/G/F`), `in:N` (inbox stream; it exists exactly while N is in `nodes`),
 * `cp:N` (inbox checkpoint), `gone:N` (node N was taken over), `retained` (hash topic -> message).
 * Channels: `ev:routes`, `ev:retained2` (retained changes; `ev:retained` before the topic went by its
 * length), `q0:N`.
 */

/** Shared by the scripts: does this node own client `id` at epoch `ep`? Cached per run. */
const OWNS = `
local p, me = ARGV[1], ARGV[2]
local owners = {}
local function owns(id, ep)
  local k = id .. '|' .. ep
  local v = owners[k]
  if v == nil then
    v = redis.call('GET', p .. 'o:' .. id) == (me .. '|' .. ep)
    owners[k] = v
  end
  return v
end
local function ownerOf(id)
  local cur = redis.call('GET', p .. 'o:' .. id)
  if not cur then return nil end
  return string.match(cur, '^(.*)|[^|]*$')
end
`;

/**
 * The commit of one turn. ARGV: prefix, node id, the node's incarnation (it stamps hand-overs), then
 * operations, each an opcode and its arguments: S id ep json (session record), D id ep (session data deleted), B id ep key json / b id ep key
 * (subscription), Q id ep seq blob state (delivery), U id ep seq state (delivery state), q id ep seq,
 * I id ep pid / i id ep pid (inbound QoS 2 id), W id ep blob (will of an unstored session; empty deletes),
 * L id ep (ownership released), R topic blob / r topic (retained), X node stamp batch (inbox append; the
 * stamp lets the reader drop a second copy), A key / a key (route of this node), H node id blob stamp (a
 * delivery handed to the node that owns session id), C id (inbox checkpoint). Session operations of a node
 * that no longer owns the session are skipped; a delivery among them is handed to the session's new owner through its inbox, stamped
 * `incarnation.q<seq>` (the same in a resent command, so the reader drops the copy).
 * Returns the client ids whose writes were skipped, then `!node` for each inbox append to a node gone.
 * A commit of only X and C operations is not run here but sent as plain commands with the same effect
 * (`RedisSessionStore.appendOnly`): keep the two in step.
 */
export const COMMIT_SCRIPT = `${OWNS}
local inc = ARGV[3]
local skipped = {}
local i = 4
local n = #ARGV
while i <= n do
  local op = ARGV[i]
  if op == 'X' then
    local node = ARGV[i + 1]
    if redis.call('HEXISTS', p .. 'nodes', node) == 1 then
      redis.call('XADD', p .. 'in:' .. node, '*', 'b', ARGV[i + 3], 'f', me, 's', ARGV[i + 2])
    else
      skipped[#skipped + 1] = '!' .. node
    end
    i = i + 4
  elseif op == 'R' then
    redis.call('HSET', p .. 'retained', ARGV[i + 1], ARGV[i + 2])
    redis.call('PUBLISH', p .. 'ev:retained2', me .. '\\n' .. #ARGV[i + 1] .. '\\n' .. ARGV[i + 1] .. ARGV[i + 2])
    i = i + 3
  elseif op == 'r' then
    redis.call('HDEL', p .. 'retained', ARGV[i + 1])
    redis.call('PUBLISH', p .. 'ev:retained2', me .. '\\n' .. #ARGV[i + 1] .. '\\n' .. ARGV[i + 1])
    i = i + 2
  elseif op == 'A' then
    if redis.call('SADD', p .. 'r:' .. me, ARGV[i + 1]) == 1 then
      redis.call('PUBLISH', p .. 'ev:routes', '+' .. me .. '\\n' .. ARGV[i + 1])
    end
    i = i + 2
  elseif op == 'a' then
    if redis.call('SREM', p .. 'r:' .. me, ARGV[i + 1]) == 1 then
      redis.call('PUBLISH', p .. 'ev:routes', '-' .. me .. '\\n' .. ARGV[i + 1])
    end
    i = i + 2
  elseif op == 'H' then
    if redis.call('HEXISTS', p .. 'nodes', ARGV[i + 1]) == 1 then
      redis.call('XADD', p .. 'in:' .. ARGV[i + 1], '*', 'h', ARGV[i + 2], 'd', ARGV[i + 3], 'f', me, 's', ARGV[i + 4])
    end
    i = i + 5
  elseif op == 'C' then
    redis.call('SET', p .. 'cp:' .. me, ARGV[i + 1])
    redis.call('XTRIM', p .. 'in:' .. me, 'MINID', ARGV[i + 1])
    i = i + 2
  else
    local id, ep = ARGV[i + 1], ARGV[i + 2]
    local s = p .. 's:' .. id
    local mine = owns(id, ep)
    if not mine then skipped[#skipped + 1] = id end
    if op == 'S' then
      if mine then redis.call('HSET', s, 'session', ARGV[i + 3]) end
      i = i + 4
    elseif op == 'D' then
      if mine then redis.call('DEL', s) end
      i = i + 3
    elseif op == 'B' then
      if mine then redis.call('HSET', s, 'sub:' .. ARGV[i + 3], ARGV[i + 4]) end
      i = i + 5
    elseif op == 'b' then
      if mine then redis.call('HDEL', s, 'sub:' .. ARGV[i + 3]) end
      i = i + 4
    elseif op == 'Q' then
      if mine then
        redis.call('HSET', s, 'd:' .. ARGV[i + 3], ARGV[i + 4], 'p:' .. ARGV[i + 3], ARGV[i + 5])
      else
        -- Taken over since: the message goes on to the session's new owner.
        local owner = ownerOf(id)
        if owner and redis.call('HEXISTS', p .. 'nodes', owner) == 1 then
          redis.call('XADD', p .. 'in:' .. owner, '*', 'h', id, 'd', ARGV[i + 4], 'f', me, 's', inc .. '.q' .. ARGV[i + 3])
        end
      end
      i = i + 6
    elseif op == 'U' then
      if mine and redis.call('HEXISTS', s, 'd:' .. ARGV[i + 3]) == 1 then
        redis.call('HSET', s, 'p:' .. ARGV[i + 3], ARGV[i + 4])
      end
      i = i + 5
    elseif op == 'q' then
      if mine then redis.call('HDEL', s, 'd:' .. ARGV[i + 3], 'p:' .. ARGV[i + 3]) end
      i = i + 4
    elseif op == 'I' then
      if mine then redis.call('HSET', s, 'q2:' .. ARGV[i + 3], '1') end
      i = i + 4
    elseif op == 'i' then
      if mine then redis.call('HDEL', s, 'q2:' .. ARGV[i + 3]) end
      i = i + 4
    elseif op == 'W' then
      if mine then
        if ARGV[i + 3] == '' then redis.call('DEL', p .. 'w:' .. id)
        else redis.call('SET', p .. 'w:' .. id, ARGV[i + 3]) end
      end
      i = i + 4
    elseif op == 'L' then
      if mine then
        redis.call('DEL', p .. 'o:' .. id, p .. 'w:' .. id)
        redis.call('SREM', p .. 'own:' .. me, id)
        owners[id .. '|' .. ep] = false
      end
      i = i + 3
    else
      return redis.error_reply('unknown commit operation ' .. tostring(op))
    end
  end
end
return skipped
`;

/**
 * Take ownership of a session. ARGV: prefix, node id, client id, mode, clean (`1`/`0`), dead node.
 * Modes: `connect` (a client is connecting here: a session this node already owns stays as it is),
 * `load` (this node starts: reclaim what it owned, unless another node took it meanwhile), `adopt` (take
 * over what a dead node owned, unless a client took it elsewhere meanwhile). The previous owner, if alive,
 * is told through its inbox (entry `e`) to let go. The session's subscriptions become routes of this node at
 * once, so a message published anywhere from now on also comes here. Returns {epoch, previous owner,
 * session hash, will} or {0} when nothing was taken.
 */
export const CLAIM_SCRIPT = `${OWNS}
local id, mode, clean, dead = ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[6]
local okey = p .. 'o:' .. id
local cur = redis.call('GET', okey)
local owner, oldEpoch = nil, nil
if cur then owner, oldEpoch = string.match(cur, '^(.*)|([^|]*)$') end
if mode == 'adopt' and owner ~= dead then
  redis.call('SREM', p .. 'own:' .. dead, id)
  return {0}
end
if mode == 'load' and owner ~= me then
  redis.call('SREM', p .. 'own:' .. me, id)
  return {0}
end
if mode == 'connect' and owner == me then return {tonumber(oldEpoch), me} end
local epoch = redis.call('INCR', p .. 'epoch')
redis.call('SET', okey, me .. '|' .. epoch)
redis.call('SADD', p .. 'own:' .. me, id)
if owner and owner ~= me then
  redis.call('SREM', p .. 'own:' .. owner, id)
  if mode == 'connect' and redis.call('HEXISTS', p .. 'nodes', owner) == 1 then
    redis.call('XADD', p .. 'in:' .. owner, '*', 'e', id, 'ep', epoch, 'f', me)
  end
end
local s = p .. 's:' .. id
local data = redis.call('HGETALL', s)
local will = redis.call('GET', p .. 'w:' .. id) or ''
redis.call('DEL', p .. 'w:' .. id)
if clean then
  redis.call('DEL', s)
else
  for j = 1, #data, 2 do
    local f = data[j]
    if string.sub(f, 1, 4) == 'sub:' then
      local key = string.sub(f, 5)
      if redis.call('SADD', p .. 'r:' .. me, key) == 1 then
        redis.call('PUBLISH', p .. 'ev:routes', '+' .. me .. '\\n' .. key)
      end
    end
  end
end
return {epoch, owner or '', data, will}
`;

/**
 * Shared by the join and the heartbeat (ARGV: prefix, node id, instance token, TTL ms, info JSON): create
 * this node's inbox stream, empty, when it is missing. A node's inbox exists exactly while the node is
 * registered in `nodes` (created here, deleted with the registration by FORGET_NODE_SCRIPT), so an append
 * made outside the commit script (`XADD ... NOMKSTREAM`, see `RedisSessionStore`) reaches a registered node
 * and is refused for a node taken over (or not registered again yet after Redis restarted empty), just as
 * the script's `nodes` check does. A stream that exists keeps its entries (a node restarted under its id
 * reads them after its checkpoint).
 */
const OPEN_INBOX = `
local p, me, token, ttl, info = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local function openInbox()
  local inbox = p .. 'in:' .. me
  if redis.call('EXISTS', inbox) == 0 then
    -- One entry added and trimmed away at once: an empty stream.
    redis.call('XADD', inbox, 'MAXLEN', '0', '*', 'o', '')
  end
end
`;

/**
 * Join: take the node id (a heartbeat that is not there, or the one of the instance this one replaces, known
 * dead; and no take-over of this id running), register the node. ARGV: prefix, node id, instance token,
 * heartbeat TTL ms, info JSON, token of the instance replaced ('' for none). Returns 1, or 0 when the id is
 * in use (or being taken over).
 */
export const JOIN_SCRIPT = `
${OPEN_INBOX}
local replaces = ARGV[6]
if redis.call('EXISTS', p .. 'adopt:' .. me) == 1 then return 0 end
local cur = redis.call('GET', p .. 'hb:' .. me)
if cur and (replaces == '' or cur ~= replaces) then return 0 end
redis.call('SET', p .. 'hb:' .. me, token, 'PX', ttl)
redis.call('HSET', p .. 'nodes', me, info)
openInbox()
redis.call('DEL', p .. 'gone:' .. me)
return 1
`;

/**
 * One heartbeat: renew this node's heartbeat (only while it is ours) and its info. ARGV: prefix, node id,
 * instance token, TTL ms, info JSON. Returns 1, or 0 when the membership was lost: the heartbeat is
 * another instance's, or it expired and the node is being taken over or was taken over (`gone:N`, left by
 * the node that did). A heartbeat missing for another reason (Redis restarted empty) is simply renewed.
 */
export const HEARTBEAT_SCRIPT = `
${OPEN_INBOX}
local cur = redis.call('GET', p .. 'hb:' .. me)
if cur and cur ~= token then return 0 end
if not cur and redis.call('EXISTS', p .. 'adopt:' .. me, p .. 'gone:' .. me) > 0 then return 0 end
redis.call('SET', p .. 'hb:' .. me, token, 'PX', ttl)
redis.call('HSET', p .. 'nodes', me, info)
openInbox()
return 1
`;

/**
 * Start taking over a dead node: the lock, only while the node has no heartbeat. ARGV: prefix, node id,
 * dead node, lock TTL ms. Returns 1 when this node holds the lock.
 */
export const ADOPT_LOCK_SCRIPT = `
local p, me, dead, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', p .. 'hb:' .. dead) == 1 then return 0 end
if redis.call('HEXISTS', p .. 'nodes', dead) == 0 then return 0 end
if not redis.call('SET', p .. 'adopt:' .. dead, me, 'NX', 'PX', ttl) then return 0 end
return 1
`;

/**
 * The end of a take-over (or of a node that left): its routes go (every node is told), then its inbox,
 * checkpoint, ownership set and registration, and the lock. ARGV: prefix, node id, dead node.
 */
export const FORGET_NODE_SCRIPT = `
local p, me, dead = ARGV[1], ARGV[2], ARGV[3]
redis.call('DEL', p .. 'r:' .. dead, p .. 'in:' .. dead, p .. 'cp:' .. dead, p .. 'own:' .. dead)
redis.call('HDEL', p .. 'nodes', dead)
-- The node, if only paused, learns from this that its sessions moved (a day is longer than any pause).
redis.call('SET', p .. 'gone:' .. dead, me, 'PX', 86400000)
redis.call('PUBLISH', p .. 'ev:routes', 'x' .. dead)
if redis.call('GET', p .. 'adopt:' .. dead) == me then redis.call('DEL', p .. 'adopt:' .. dead) end
return 1
`;
