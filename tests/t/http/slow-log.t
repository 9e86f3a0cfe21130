# The slow log: an entry while a request runs past slowtime, with the Lua
# traceback of where it is; a request stuck in C gets one without; slowtime
# 0 turns it off; USR1 reopens it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for slurp);

my $spin = <<'LUA';
local function deliberately_slow(seconds)
  local start = os.clock()
  while os.clock() - start < seconds do end
end

function main(env, req)
  deliberately_slow(tonumber(env.SPIN) or 3)
  req:puts("done")
end
LUA
my $t = LFTest->new(
    conf => { workers => 2, sweep => 100, slowtime => 1 },
    scripts => {
        'spin.lua' => $spin,
        'inc.lua'  => "function main(env, req) os.execute('sleep 2.5') req:puts('back') end\n",
        'fast.lua' => "function main(env, req) req:puts('fast') end\n",
        'load.lua' => "local s = os.clock()\nwhile os.clock() - s < 2 do end\n"
                    . "function main(env, req) req:puts('loaded') end\n",
    });
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
    LFTest::write_all($s, LFTest::encode_request({ REQUEST_METHOD => 'GET', %p }, ''));
    return $s;
}

# a request in a slow Lua function
my $s = send_request(SCRIPT_FILENAME => "$www/spin.lua", REQUEST_URI => '/spin.lua?x=1',
                     HTTP_X_REQUEST_ID => 'slow-1');
ok(wait_for(sub { entries() >= 1 }, 10), 'a request past slowtime gets an entry');
my ($e) = entries();
my $r = LFTest::read_response($s);
is($r->{body}, 'done', 'and the request still completes');
like($e, qr/^\[\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d\]  \[pool luafcgid\] worker [12], request slow-1, running for (\d+\.\d{3}) s$/m,
     'the entry says when, which worker, the request id and how long so far');
my ($elapsed) = $e =~ /running for (\d+\.\d+) s/;
cmp_ok($elapsed, '>=', 1, 'written after slowtime');
cmp_ok($elapsed, '<', 3, 'while the request still ran (it spins for 3 s)');
like($e, qr/^script_filename = \Q$www\E\/spin\.lua$/m, 'the script');
like($e, qr{^request = GET /spin\.lua\?x=1$}m, 'the method and URI');
like($e, qr/^stack traceback:\n\t\Q$www\E\/spin\.lua:3: in function 'deliberately_slow'\n\t\Q$www\E\/spin\.lua:7: in function/m,
     'the traceback of where it was: in the slow function, called from main');
is(scalar(entries()), 1, 'one entry per slow request, not one per sweep');

# fast requests get none
is($t->get('fast.lua')->{body}, 'fast', 'a fast request');
is(scalar(entries()), 1, 'gets no entry');

# a request stuck in C: no hook runs, the housekeeper writes the entry
$s = send_request(SCRIPT_FILENAME => "$www/inc.lua", REQUEST_URI => '/inc.lua');
ok(wait_for(sub { entries() >= 2 }, 10), 'a request in C past slowtime gets an entry');
$e = (entries())[1];
like($e, qr/^script_filename = \Q$www\E\/inc\.lua$/m, 'naming its script');
like($e, qr/^no Lua traceback: the request is not running Lua code now \(it is in a C function/m,
     'without a traceback, saying why');
unlike($e, qr/stack traceback/, 'and no traceback');
is(LFTest::read_response($s)->{body}, 'back', 'the request completes');
is(scalar(entries()), 2, 'one entry for it');

# a script slow to load on its first request: the traceback is in its main chunk
is($t->get('load.lua', HTTP_X_REQUEST_ID => 'slow-load')->{body}, 'loaded', 'a script slow to load');
ok(wait_for(sub { entries() >= 3 }, 5), 'its first request gets an entry');
like((entries())[2], qr/request slow-load,.*\nstack traceback:\n\t\Q$www\E\/load\.lua:2: in main chunk/s,
     'with the traceback of the script\'s main chunk, being loaded');

# with timeout = 0 the hook still watches for the mark
$t->write_conf(timeout => 0);
$t->signal('HUP');
ok($t->wait_log(qr/reloaded/), 'HUP with timeout = 0');
is($t->get('spin.lua', SPIN => 1.5)->{body}, 'done', 'a slow request without a timeout');
ok(wait_for(sub { entries() >= 4 }, 5), 'gets an entry');
SKIP: {
    skip 'LuaJIT compiles the loop with timeout = 0: no hook runs in it', 1
        if `${\ LFTest::binary()} -V` =~ /LuaJIT/;
    like((entries())[3], qr/in function 'deliberately_slow'/, 'with its traceback');
}

# slowtime = 0: off
$t->write_conf(timeout => undef, slowtime => 0);
$t->signal('HUP');
ok(wait_for(sub { reloads() >= 2 }, 10), 'HUP with slowtime = 0');
is($t->get('spin.lua', SPIN => 1.5)->{body}, 'done', 'a slow request');
is($t->get('inc.lua')->{body}, 'back', 'and one in C');
is(scalar(entries()), 4, 'get no entry with slowtime = 0');

# USR1 after a rename: entries go to a new file of the same name
$t->write_conf(slowtime => 1);
$t->signal('HUP');
ok(wait_for(sub { reloads() >= 3 }, 10), 'HUP with slowtime = 1 again');
rename($slow, "$slow.1") or die "rename: $!";
$t->signal('USR1');
ok($t->wait_log(qr/log reopened/), 'USR1 is logged');
is($t->get('spin.lua', SPIN => 1.5, HTTP_X_REQUEST_ID => 'after-usr1')->{body}, 'done', 'a slow request after USR1');
ok(wait_for(sub { entries() >= 1 }, 5), 'its entry is in a new file');
like((entries())[0], qr/request after-usr1,/, 'the entry of that request');
is(scalar(entries("$slow.1")), 4, 'the renamed file keeps the entries before');

$t->stop;
done_testing;
