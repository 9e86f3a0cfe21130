# The shared dictionaries answer as OpenResty's do: generated sequences of
# operations (every method, wrong types, missing keys, lists against
# scalars, expiry, flags) run through Debian's ngx_lua (lua_shared_dict in
# a private nginx) and through luafcgid behind the same nginx, and every
# return value and error string compared. Then expiry as time passes,
# and a full dictionary, where the allocators differ (ngx_lua's slab
# pages, our blocks): there what a script can rely on is compared. Last,
# an object proxying a dictionary, which we refuse where ngx_lua's FFI
# methods accept it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest;
use LFNgx;

plan skip_all => 'ngx_lua (libnginx-mod-http-lua) is not installed' unless LFNgx::available();

my $x = LFNgx->new(shared => { d => '1m', small => '64k' }, conf => { workers => 2 });
$x->start;

# Compare line by line; on a difference, say where.
sub same {
    my ($ngx, $lf, $name) = @_;
    my @n = split /\n/, $ngx, -1;
    my @l = split /\n/, $lf, -1;
    for my $i (0 .. ($#n > $#l ? $#n : $#l)) {
        next if defined $n[$i] && defined $l[$i] && $n[$i] eq $l[$i];
        fail($name);
        diag("first difference at line " . ($i + 1) . ":\n  ngx_lua:  " . ($n[$i] // '(none)')
             . "\n  luafcgid: " . ($l[$i] // '(none)'));
        diag("before it:\n  " . join("\n  ", @n[($i > 3 ? $i - 3 : 0) .. ($i > 0 ? $i - 1 : 0)])) if $i;
        return 0;
    }
    return pass("$name (" . scalar(@n) . " answers)");
}

# ---- generated sequences -------------------------------------------------

my @keys = ('"a"', '"b"', '"c"', '"l"', '"m"', '1', 'true', 'nil', '""', 'string.rep("k", 65536)');
my @list_keys = (@keys[0 .. 6], 'nil', '""', '{}', 'string.rep("k", 65536)');
my @values = ('"v"', '"w"', '"longer value"', '""', '0', '1', '-2.5', '1e300', 'true', 'false',
              'nil', '{}', 'print', 'string.rep("x", 5000)');
my @exptimes = (undef, 'nil', '0', '100', '-1', '"5"', 'false', '0.0001');
my @flags = (undef, 'nil', '0', '3', '-1', '1.9', '"7"', 'true', '2^31');
my @incrs = ('1', '-1', '0.5', '"3"', '"abc"', 'nil', '{}');
my @inits = (undef, 'nil', '0', '10', '"5"', '"x"', 'false');
my @init_ttls = (undef, 'nil', '0', '100', '-1', '"x"');

my $seed;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return int($seed / 65536) % $_[0] }
sub pick { my @a = @_; return $a[rnd(scalar @a)] }

# Optional trailing arguments: undef ends the list there.
sub args {
    my @out;
    for my $a (@_) { last unless defined $a; push @out, $a }
    return join(', ', @out);
}

sub one_op {
    my $k = pick(@keys);
    my $op = rnd(22);
    return "try(d.get, d, $k)" if $op == 0 || $op == 1;
    return "try(d.get_stale, d, $k)" if $op == 2;
    if ($op <= 7) {
        my $m = pick(qw(set set set safe_set add safe_add replace));
        my ($e, $f) = (pick(@exptimes), pick(@flags));
        $e //= 'nil' if defined $f;
        return "try(d.$m, d, " . args($k, pick(@values), $e, $f) . ")";
    }
    return "try(d.delete, d, $k)" if $op == 8;
    if ($op <= 10) {
        my ($i, $t) = (pick(@inits), pick(@init_ttls));
        $i //= 'nil' if defined $t;
        return "try(d.incr, d, " . args($k, pick(@incrs), $i, $t) . ")";
    }
    return "try(d." . pick(qw(lpush rpush)) . ", d, " . pick(@list_keys) . ", " . pick(@values) . ")" if $op <= 13;
    return "try(d." . pick(qw(lpop rpop)) . ", d, " . pick(@list_keys) . ")" if $op <= 15;
    return "try(d.llen, d, " . pick(@list_keys) . ")" if $op == 16;
    return "ttlshow(d:ttl($k))" if $op == 17;
    return "try(d.expire, d, " . args($k, pick('100', '0', '-1', 'nil', '"5"', '{}')) . ")" if $op == 18;
    return "keys(d:get_keys(" . pick('', '0', '2') . "))" if $op == 19;
    return "try(d.flush_expired, d" . pick('', ', 1') . ")" if $op == 20;
    return pick('try(d.flush_all, d)', 'try(d.capacity, d)', 'try(d.get, "d")', 'try(d.lpush, d, "a")',
                'try(d.llen, d)', 'try(d.get_keys, d, 1, 2)', 'try(d.ttl, d)', 'try(d.expire, d, "a")');
}

my $helpers = <<'LUA';
local d = shared.d
d:flush_all()
d:flush_expired()
local function ttlshow(v, e)
  if type(v) ~= "number" then return show(v, e) end
  if v == 0 then return "0" elseif v < 0 then return "negative" end
  return string.format("~%.0f", v)
end
local function keys(t) return "keys: " .. table.concat(t, ",") end
local o = {}
LUA

for my $s (1 .. 6) {
    $seed = $s * 7919 + ($ENV{LF_SEED} // 0);
    my $lua = $helpers;
    for my $i (1 .. 300) {
        my $op = one_op();
        (my $label = $op) =~ s/string\.rep\("(.)", (\d+)\)/$1 x $2/g;
        $label =~ s/(["\\])/\\$1/g;
        $lua .= "o[#o + 1] = \"$i $label -> \" .. $op\n";
    }
    $lua .= "return table.concat(o, '\\n')\n";
    my ($ngx, $lf) = $x->run("seq$s", $lua);
    same($ngx, $lf, "generated sequence $s: every answer as ngx_lua's");
}

# ---- time passing --------------------------------------------------------

{
    my ($ngx, $lf) = $x->run('ttl', <<'LUA');
local d, o = shared.d, {}
d:flush_all(); d:flush_expired()
local function add(s) o[#o + 1] = s end
add(try(d.set, d, "t", "v", 0.3, 9))
add(try(d.set, d, "u", "same", 0.3))
add(try(d.incr, d, "c", 1, 0, 0.3))
d:lpush("l", 1); d:expire("l", 0.3)
add(try(d.set, d, "stay", "s"))
-- within the TTL: a busy machine may stall either side before this line
local tt = d:ttl("t")
add(type(tt) == "number" and tt > 0.1 and tt <= 0.3 and "ttl in (0.1, 0.3]" or "ttl " .. tostring(tt))
sleep(0.5)
add(try(d.get_stale, d, "t"))
add(try(d.get, d, "t"))
add(try(d.get_stale, d, "t"))
local tu = d:ttl("u")
add(tu == nil and "gone" or tu < 0 and "expired, still there" or "live")
add(try(d.add, d, "u", "back"))
add(try(d.get, d, "u"))
add(try(d.incr, d, "c", 1))
add(try(d.incr, d, "c", 1, 5))
add(try(d.llen, d, "l"))
add(try(d.lpush, d, "l", "again"))
add(try(d.llen, d, "l"))
add(try(d.replace, d, "t", "r"))
add("keys: " .. table.concat(d:get_keys(0), ","))
add(try(d.expire, d, "stay", 0.2))
sleep(0.4)
add(try(d.flush_expired, d))
add("keys: " .. table.concat(d:get_keys(0), ","))
add(try(d.get_stale, d, "stay"))
d:flush_all()
add(try(d.get_stale, d, "u"))
add(try(d.get, d, "u"))
return table.concat(o, "\n")
LUA
    same($ngx, $lf, 'expiry as time passes: get, get_stale, add, incr, lists, flush_expired');
}

# ---- a full dictionary ---------------------------------------------------

{
    my ($ngx, $lf) = $x->run('full', <<'LUA');
local d, o = shared.small, {}
local function add(s) o[#o + 1] = s end
d:flush_all(); d:flush_expired()
add("capacity " .. d:capacity())
local v = string.rep("x", 1000)
local first
for i = 1, 1000 do
  local ok, err, forcible = d:set("k" .. i, v)
  if not ok then add("set failed: " .. tostring(err)) break end
  if forcible and not first then first = i end
end
add("set evicts once full: " .. tostring(first ~= nil))
add("the newest is kept: " .. tostring(d:get("k1000") == v))
add("the oldest went first: " .. tostring(d:get("k1") == nil))
add("safe_set when full: " .. try(d.safe_set, d, "new", v))
add("safe_add when full: " .. try(d.safe_add, d, "new", v))
-- ngx_lua evicts 30 entries before it gives up on a value larger than the
-- zone (forcible true); we evict nothing for what can never fit
local ok, err = d:set("huge", string.rep("y", 70000))
add("too large for the zone: " .. show(ok, err))
add("incr with init evicts: " .. try(d.incr, d, "n", 1, 0))
d:flush_all(); d:flush_expired()
local n, last = 0
repeat n = n + 1; last = { d:rpush("list", v) } until last[1] == nil or n > 1000
add("a list fills up: " .. show(last[1], last[2]))
add("its length is there: " .. tostring(d:llen("list") == n - 1))
d:flush_all(); d:flush_expired()
return table.concat(o, "\n")
LUA
    same($ngx, $lf, 'a full dictionary: set evicts the oldest, safe_ and lists fail with "no memory"');
}


# ---- an object that proxies a dictionary ---------------------------------
#
# A table whose metatable's __index is a dictionary, used as self: ngx_lua's
# methods written over the FFI (lua-resty-core's check_zone reads self[1]
# through __index) take it for the dictionary; its C ones (the lists,
# flush_expired, get_keys) read self[1] raw and refuse it. We refuse it
# everywhere, with the C ones' words: a difference on purpose (README).

{
    my ($ngx, $lf) = $x->run('proxy', <<'LUA');
local d, o = shared.d, {}
d:flush_all(); d:flush_expired()
d:set("k", "v"); d:set("n", 1); d:rpush("l", 1)
local p = setmetatable({}, { __index = d })
local calls = {
  { "get", "k" }, { "get_stale", "k" }, { "set", "s", "w" }, { "safe_set", "s", "w" }, { "add", "a", "w" },
  { "safe_add", "b", "w" }, { "replace", "s", "x" }, { "incr", "n", 1 }, { "ttl", "k" }, { "expire", "k", 10 },
  { "capacity" }, { "free_space" }, { "delete", "s" }, { "flush_all" },
  { "lpush", "l", 2 }, { "rpush", "l", 3 }, { "lpop", "l" }, { "rpop", "l" }, { "llen", "l" },
  { "flush_expired" }, { "get_keys" },
}
for _, c in ipairs(calls) do
  o[#o + 1] = c[1] .. ": " .. try(function() return p[c[1]](p, unpack(c, 2)) end)
end
return table.concat(o, "\n")
LUA
    my @ffi = qw(get get_stale set safe_set add safe_add replace incr ttl expire capacity free_space delete flush_all);
    my %ngx = map { /^(\w+): (.*)$/ ? ($1 => $2) : () } split /\n/, $ngx;
    my %lf = map { /^(\w+): (.*)$/ ? ($1 => $2) : () } split /\n/, $lf;
    is(scalar(grep { defined $ngx{$_} && $ngx{$_} !~ /^error/ } @ffi), scalar(@ffi),
       "ngx_lua's FFI methods take a proxy of a dictionary for it") or diag $ngx;
    is(scalar(grep { ($lf{$_} // '') eq 'error: bad "zone" argument' } @ffi), scalar(@ffi),
       'ours refuse it: error "bad \"zone\" argument"') or diag $lf;
    my @c = qw(lpush rpush lpop rpop llen flush_expired get_keys);
    is(join("\n", map { "$_: " . ($lf{$_} // '') } @c), join("\n", map { "$_: " . ($ngx{$_} // '') } @c),
       'the list methods, flush_expired and get_keys refuse it in both, with the same words');
}

$x->stop;
done_testing();
