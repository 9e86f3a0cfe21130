# The slow log: an entry while a request runs past slowtime, with the Lua
# traceback of where it is; a request stuck in C gets one without; slowtime
# 0 turns it off; USR1 reopens it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for slurp spew);

# Slow requests that last until the test lets go (DIR/go), or SECONDS (30):
# spinning in Lua (looking for the file now and then), in C (a command),
# and in a script's main chunk.
my $spin = <<'LUA';
local function deliberately_slow(go, seconds)
  local start, f = os.time()
  repeat for i = 1, 1e5 do end f = io.open(go) until f or os.time() - start >= seconds
  if f then f:close() end
end
function main(env, req)
  deliberately_slow(env.GO, tonumber(env.SECONDS) or 30)
  req:puts("done")
end
LUA
my $t = LFTest->new(conf => { workers => 2, sweep => 100, slowtime => 1 });
my $go = $t->dir . '/go';
$t->script('spin.lua', $spin);
$t->script('inc.lua', "function main(env, req) os.execute('i=0; while [ ! -e $go ] && [ \$i -lt ' "
                    . ".. (tonumber(env.SECONDS) or 30) * 20 .. ' ]; do sleep 0.05; i=\$((i + 1)); done') "
                    . "req:puts('back') end\n");
$t->script('fast.lua', "function main(env, req) req:puts('fast') end\n");
$t->script('load.lua', "local s, f = os.time()\nrepeat for i = 1, 1e5 do end f = io.open('$go') until f or os.time() - s >= 30\n"
                     . "function main(env, req) req:puts('loaded') end\n");
my $slow = $t->dir . '/slow.log';
$t->write_conf(slowlog => $slow);
$t->start;
my $www = $t->www;

sub reloads { return scalar(() = $t->log =~ /reloaded/g) }
sub entries { my ($file) = @_; return grep { /\S/ } split /\n\n/, slurp($file // $slow) }

# send a request and return its socket, unread
sub send_request {
    my (%p) = @_;
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::encode_request({ REQUEST_METHOD => 'GET', GO => $go, %p }, ''));
    return $s;
}

# The slow request SCRIPT (with PARAMS) until it has N entries in FILE:
# then it is let go; its answer.
sub slow_until_entries {
    my ($n, $script, %p) = @_;
    my $file = delete $p{file};
    unlink $go;
    my $s = send_request(SCRIPT_FILENAME => "$www/$script", %p);
    ok(wait_for(sub { entries($file) >= $n }, 10), "$script: a request past slowtime gets an entry");
    spew($go, '');
    return LFTest::read_response($s);
}

# a request in a slow Lua function
my $t0 = time;
my $s = send_request(SCRIPT_FILENAME => "$www/spin.lua", REQUEST_URI => '/spin.lua?x=1',
                     HTTP_X_REQUEST_ID => 'slow-1');
ok(wait_for(sub { entries() >= 1 }, 10), 'a request past slowtime gets an entry');
my $seen = time - $t0;
my ($e) = entries();
spew($go, '');
my $r = LFTest::read_response($s);
is($r->{body}, 'done', 'and the request still completes');
like($e, qr/^\[\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d\]  \[pool luafcgid\] worker [12], request slow-1, running for (\d+\.\d{3}) s$/m,
     'the entry says when, which worker, the request id and how long so far');
my ($elapsed) = $e =~ /running for (\d+\.\d+) s/;
cmp_ok($elapsed, '>=', 1, 'written after slowtime');
cmp_ok($elapsed, '<=', $seen + 0.1, sprintf('while the request still ran (seen after %.1f s)', $seen));
like($e, qr/^script_filename = \Q$www\E\/spin\.lua$/m, 'the script');
like($e, qr{^request = GET /spin\.lua\?x=1$}m, 'the method and URI');
like($e, qr/^stack traceback:\n\t\Q$www\E\/spin\.lua:3: in function 'deliberately_slow'\n\t\Q$www\E\/spin\.lua:7: in function/m,
     'the traceback of where it was: in the slow function, called from main');
is(scalar(entries()), 1, 'one entry per slow request, not one per sweep');

# fast requests get none
is($t->get('fast.lua')->{body}, 'fast', 'a fast request');
is(scalar(entries()), 1, 'gets no entry');

# a request stuck in C: no hook runs, the housekeeper writes the entry
$r = slow_until_entries(2, 'inc.lua', REQUEST_URI => '/inc.lua');
$e = (entries())[1];
like($e, qr/^script_filename = \Q$www\E\/inc\.lua$/m, 'naming its script');
like($e, qr/^no Lua traceback: the request is not running Lua code now \(it is in a C function/m,
     'without a traceback, saying why');
unlike($e, qr/stack traceback/, 'and no traceback');
is($r->{body}, 'back', 'the request completes');
is(scalar(entries()), 2, 'one entry for it');

# a script slow to load on its first request: the traceback is in its main chunk
$r = slow_until_entries(3, 'load.lua', HTTP_X_REQUEST_ID => 'slow-load');
is($r->{body}, 'loaded', 'a script slow to load');
like((entries())[2], qr/request slow-load,.*\nstack traceback:\n\t\Q$www\E\/load\.lua:2: in main chunk/s,
     'with the traceback of the script\'s main chunk, being loaded');

# with timeout = 0 the hook still watches for the mark
$t->write_conf(timeout => 0);
$t->signal('HUP');
ok($t->wait_log(qr/reloaded/), 'HUP with timeout = 0');
is(slow_until_entries(4, 'spin.lua')->{body}, 'done', 'a slow request without a timeout');
SKIP: {
    skip 'LuaJIT compiles the loop with timeout = 0: no hook runs in it', 1
        if `${\ LFTest::binary()} -V` =~ /LuaJIT/;
    like((entries())[3], qr/in function 'deliberately_slow'/, 'with its traceback');
}

# slowtime = 0: off (requests of 2 to 3 s, in Lua and in C)
$t->write_conf(timeout => undef, slowtime => 0);
$t->signal('HUP');
ok(wait_for(sub { reloads() >= 2 }, 10), 'HUP with slowtime = 0');
unlink $go;
is($t->get('spin.lua', GO => $go, SECONDS => 3)->{body}, 'done', 'a slow request');
is($t->get('inc.lua', GO => $go, SECONDS => 2)->{body}, 'back', 'and one in C');
is(scalar(entries()), 4, 'get no entry with slowtime = 0');

# USR1 after a rename: entries go to a new file of the same name
$t->write_conf(slowtime => 1);
$t->signal('HUP');
ok(wait_for(sub { reloads() >= 3 }, 10), 'HUP with slowtime = 1 again');
rename($slow, "$slow.1") or die "rename: $!";
$t->signal('USR1');
ok($t->wait_log(qr/log reopened/), 'USR1 is logged');
is(slow_until_entries(1, 'spin.lua', HTTP_X_REQUEST_ID => 'after-usr1')->{body}, 'done', 'a slow request after USR1');
like((entries())[0], qr/request after-usr1,/, 'its entry, in a new file');
is(scalar(entries("$slow.1")), 4, 'the renamed file keeps the entries before');

is($t->stop, 0, 'stop');
done_testing;
