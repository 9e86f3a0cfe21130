# The Lua request API over a real FastCGI connection to the real daemon.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use IO::Select;
use LFTest qw(wait_for spew);

my $t = LFTest->new(conf => { workers => 2, extra => undef });
mkdir $t->www . '/lib';
spew($t->www . '/lib/helper.lua', "return { answer = function() return 42 end }\n");
$t->script('hello.lua', <<'LUA');
local lf = require "luafcgid"
hits = 0
function main(env, req)
  hits = hits + 1
  req:header("Content-Type", "text/plain")
  req:puts("hello ", env.REMOTE_ADDR, " #", hits, "\n")
end
LUA
$t->script('env.lua', <<'LUA');
function main(env, req)
  local keys = {}
  for k in pairs(env) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do req:puts(k, "=", env[k], "\n") end
end
LUA
$t->script('headers.lua', <<'LUA');
function main(env, req)
  req:header("Status", "201 Created")
  req:header("Content-Type", "application/json")
  req:header("X-One: first")
  req:header("X-Two", "second")
  req:header("Set-Cookie", "a=1")
  req:header("Set-Cookie", "b=2")
  req:puts('{"ok":true}')
end
LUA
$t->script('badheader.lua', <<'LUA');
function main(env, req)
  local ok, err = pcall(req.header, req, "X-Evil", "a\r\nSet-Cookie: pwned=1")
  req:puts(ok and "accepted" or ("refused: " .. tostring(err)))
  local ok2 = pcall(req.header, req, "X-Evil\n", "v")
  local ok3 = pcall(req.header, req, "X-Nul", "a\0b")
  local ok4 = pcall(req.header, req, "Status", "fine thanks")
  req:puts(ok4 and " status-accepted" or " status-refused")
  req:puts(ok2 and " name-accepted" or " name-refused")
  req:puts(ok3 and " nul-accepted" or " nul-refused")
end
LUA
$t->script('post.lua', <<'LUA');
function main(env, req)
  local body = req:gets()
  local again = req:gets()
  req:header("Content-Type", "text/plain")
  if body == nil then req:puts("nobody") return end
  local sum = 0
  for i = 1, #body, 997 do sum = sum + body:byte(i) end
  req:puts(#body, " ", sum, " ", tostring(body == again))
end
LUA
$t->script('form.lua', <<'LUA');
local lf = require "luafcgid"
function main(env, req)
  local f = lf.parse(req:gets())
  req:puts(lf.escape(f.name), "|", type(f.tag) == "table" and #f.tag or 0)
end
LUA
$t->script('puts.lua', <<'LUA');
function main(env, req)
  req:puts(1, " ", 2.5, " ", "three")
  local ok, err = pcall(req.puts, req, {})
  req:puts(ok and " table-accepted" or " table-refused")
end
LUA
$t->script('reset.lua', <<'LUA');
function main(env, req)
  req:puts("dropped")
  req:reset()
  req:puts("kept")
end
LUA
$t->script('config.lua', <<'LUA');
function main(env, req)
  req:puts(req:config("workers"), " ", tostring(req:config("showerrors")), " ",
           req:config("handler"), " ", tostring(req:config("nope")))
end
LUA
$t->script('log.lua', <<'LUA');
function main(env, req)
  req:log("a line from the script", 42)
  req:puts("logged")
end
LUA
$t->script('levels.lua', <<'LUA');
function main(env, req)
  req:log("warn", "a warning from the script")
  req:log("debug", "a debug line from the script")
  req:log("error")
  req:puts("logged")
end
LUA
$t->script('exit.lua', <<'LUA');
count = 0
function main(env, req)
  count = count + 1
  req:puts("before exit ", count)
  pcall(os.exit, 1)
  req:puts(" after exit")
end
LUA
$t->script('flush.lua', <<'LUA');
function main(env, req)
  req:puts("part one;")
  req:flush()
  req:puts("part two;")
  local ok = pcall(req.header, req, "X-Late", "1")
  req:puts(ok and "late-accepted" or "late-refused")
end
LUA
$t->script('require.lua', <<'LUA');
local helper = require "lib.helper"
function main(env, req)
  req:puts("answer ", helper.answer())
end
LUA
$t->script('cwd.lua', <<'LUA');
function main(env, req)
  local f = io.open("cwd.lua")
  req:puts(f and "found-relative" or "not-relative")
  if f then f:close() end
end
LUA
$t->script('handler2.lua', "function other(env, req) req:puts('other handler') end\n");
$t->start;

my $r = $t->get('hello.lua');
is($r->{status}, 200, 'hello: 200');
is($r->{body}, "hello 127.0.0.1 #1\n", 'hello: the body');
is($r->{headers}{'content-type'}, 'text/plain', 'hello: Content-Type set by the script');
is($r->{headers}{'x-powered-by'}, 'luafcgid', 'the configured extra header is sent');
is($r->{headers}{'content-length'}, length($r->{body}), 'a buffered answer carries Content-Length');
ok($r->{ended}, 'the request ends with FCGI_END_REQUEST');
my @bodies = map { $t->get('hello.lua')->{body} } 1 .. 6;
my %seen = map { /#(\d+)/ ? ($1 => 1) : () } @bodies;
ok(grep({ $_ > 1 } keys %seen), 'globals persist across requests (the counter grows)');

$r = $t->get('env.lua', QUERY_STRING => 'a=1&b=2', HTTP_X_CUSTOM => 'yes');
like($r->{body}, qr/^QUERY_STRING=a=1&b=2$/m, 'env has the query string');
like($r->{body}, qr/^HTTP_X_CUSTOM=yes$/m, 'env has every FastCGI parameter');
like($r->{body}, qr/^SCRIPT_FILENAME=.*env\.lua$/m, 'env has SCRIPT_FILENAME');
like($r->{body}, qr/^LUAFCGID_VERSION=\d+\.\d+\.\d+$/m, 'env has LUAFCGID_VERSION');

$r = $t->get('headers.lua');
is($r->{status}, 201, 'req:header("Status", ...) replaces the default status');
is($r->{headers}{'content-type'}, 'application/json', 'Content-Type replaces the default');
is(scalar(grep { lc $_->[0] eq 'content-type' } @{ $r->{header_lines} }), 1, 'only one Content-Type line');
is(scalar(grep { lc $_->[0] eq 'status' } @{ $r->{header_lines} }), 1, 'only one Status line');
is($r->{headers}{'x-one'}, 'first', 'req:header("Name: value") works');
is($r->{headers}{'x-two'}, 'second', 'req:header(name, value) works');
is(scalar(grep { lc $_->[0] eq 'set-cookie' } @{ $r->{header_lines} }), 2, 'other headers may repeat');

$r = $t->get('badheader.lua');
like($r->{body}, qr/^refused: .*CR, LF or NUL/, 'CR LF in a header value raises a Lua error');
like($r->{body}, qr/name-refused/, 'LF in a header name raises a Lua error');
like($r->{body}, qr/nul-refused/, 'NUL in a header value raises a Lua error');
like($r->{body}, qr/status-refused/, 'a Status without a code raises a Lua error');
ok(!exists $r->{headers}{'set-cookie'}, 'nothing was injected');

$r = $t->get('post.lua', STDIN => 'x=1&y=2');
is($r->{body}, '7 120 true', 'a small POST body is read whole, and the second read gives the same');
my $big = join('', map { chr(32 + $_ % 90) } 1 .. 1024 * 1024);
my $sum = 0;
for (my $i = 0; $i < length $big; $i += 997) { $sum += ord(substr($big, $i, 1)) }
$r = $t->get('post.lua', STDIN => $big);
is($r->{status}, 200, 'a 1 MiB POST body is accepted (maxpost is 1 MiB)');
is($r->{body}, length($big) . " $sum true", 'and read whole, byte for byte');
$r = $t->get('post.lua');
is($r->{body}, 'nobody', 'req:gets() is nil when there is no body');

$r = $t->get('form.lua', STDIN => 'name=%3Cb%3Eyou%3C%2Fb%3E&tag=a&tag=b');
is($r->{body}, '&lt;b&gt;you&lt;/b&gt;|2', 'the module parses a form and escapes HTML');

$r = $t->get('puts.lua');
is($r->{body}, '1 2.5 three table-refused', 'puts takes strings and numbers and refuses a table');
is($t->get('reset.lua')->{body}, 'kept', 'req:reset drops the buffered body');
is($t->get('config.lua')->{body}, '2 true main nil', 'req:config reads config values');
is($t->get('log.lua')->{body}, 'logged', 'req:log returns normally');
ok($t->wait_log(qr/\[notice\] worker \d+ request [0-9a-f]{32}: \S+log\.lua: a line from the script 42/),
   'req:log writes a notice tagged with worker, request id and script');
is($t->get('levels.lua', HTTP_X_REQUEST_ID => 'lvl-1')->{body}, 'logged', 'req:log with a level returns normally');
ok($t->wait_log(qr/\[warn\] worker \d+ request lvl-1: \S+levels\.lua: a warning from the script\n/),
   'req:log("warn", ...) logs at warn, with the id from X-Request-Id');
ok($t->wait_log(qr/\[notice\] worker \d+ request lvl-1: \S+levels\.lua: error\n/),
   'a level name alone is the message, at notice');
unlike($t->log, qr/a debug line from the script/, 'req:log("debug", ...) is dropped under loglevel info');

$r = $t->get('exit.lua');
is($r->{status}, 200, 'os.exit ends the request with the normal status');
is($r->{body}, 'before exit 1', 'what was written before os.exit is sent, nothing after (even under pcall)');
is($t->get('exit.lua')->{body}, 'before exit 2', 'the state survives os.exit');
ok($t->can_connect, 'and the daemon is still there');

$r = $t->get('flush.lua');
is($r->{body}, 'part one;part two;late-refused', 'req:flush sends early; later headers raise an error');
ok(!exists $r->{headers}{'content-length'}, 'a flushed answer has no Content-Length');

is($t->get('require.lua')->{body}, 'answer 42', "require finds modules beside the script");
is($t->get('cwd.lua')->{body}, 'not-relative', 'the working directory is not changed to the script\'s');

# an independent client: cgi-fcgi from libfcgi
SKIP: {
    skip 'cgi-fcgi is not installed', 2 unless -x '/usr/bin/cgi-fcgi';
    local $ENV{SCRIPT_FILENAME} = $t->www . '/hello.lua';
    local $ENV{REQUEST_METHOD} = 'GET';
    local $ENV{REMOTE_ADDR} = '10.1.2.3';
    my $out = `cgi-fcgi -bind -connect ${\ $t->listen_addr} 2>&1`;
    like($out, qr/^Status: 200 OK\r?$/m, 'cgi-fcgi gets a 200');
    like($out, qr/hello 10\.1\.2\.3 #\d+/, 'cgi-fcgi gets the body');
}

$r = $t->get('handler2.lua');
is($r->{status}, 500, 'a script without the handler function is a 500');
$t->write_conf(handler => 'other');
$t->signal('HUP');
ok($t->wait_log(qr/reloaded/), 'reload with another handler name');
is($t->get('handler2.lua')->{body}, 'other handler', 'the configured handler name is called');

# unbuffered mode streams as it goes
$t->write_conf(buffering => 0, handler => 'main');
$t->script('stream.lua', <<'LUA');
function main(env, req)
  req:header("X-Stream", "yes")
  req:puts("one;")
  req:puts("two;")
end
LUA
$t->signal('HUP');
ok($t->wait_log(qr/reloaded.*\n(?:.*\n)*.*reloaded/), 'reload with buffering = false');
{
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/stream.lua',
                                                  REQUEST_METHOD => 'GET' }, ''));
    # records as they arrive: the headers go out before the body is complete
    my $r = LFTest::read_response($s);
    is($r->{body}, 'one;two;', 'unbuffered: the body arrives');
    is($r->{headers}{'x-stream'}, 'yes', 'unbuffered: headers set before the first output are sent');
    ok(!exists $r->{headers}{'content-length'}, 'unbuffered: no Content-Length');
}

# unbuffered, what is written leaves before the script ends: 20 kB, then
# the script waits for the test to have seen them
{
    my $mark = $t->dir . '/seen';
    $t->script('trickle.lua', <<"LUA");
function main(env, req)
  req:puts(string.rep("a", 20000))
  for _ = 1, 200 do
    local f = io.open("$mark")
    if f then f:close() break end
    os.execute("sleep 0.05")
  end
  req:puts("end")
end
LUA
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/trickle.lua',
                                                  REQUEST_METHOD => 'GET' }, ''));
    my $sel = IO::Select->new($s);
    my $got = '';
    wait_for(sub {
        sysread($s, $got, 65536, length $got) if $sel->can_read(0.1);
        return length($got) >= 16000;
    }, 10);
    ok(length($got) >= 16000, sprintf('unbuffered: 16 kB of 20 leave while the script still runs (%d bytes)',
                                      length $got));
    spew($mark, '');
    wait_for(sub { sysread($s, $got, 65536, length $got) if $sel->can_read(0.1); return $got =~ /end/ }, 10);
    like($got, qr/end/, 'and the rest once it goes on');
}

is($t->stop, 0, 'TERM: exit status 0');
done_testing;
