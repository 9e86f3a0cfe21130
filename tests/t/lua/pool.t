# The pool through the real daemon: clones, limits, eviction, reloads,
# housekeeping, maxrequests, preload.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for spew slurp);

my $counter = <<'LUA';
n = 0
function main(env, req) n = n + 1 req:puts(n) end
LUA

# A rendezvous: each request checks in, then waits (bounded) until N have
# checked in. Only N states running at once can all answer "met".
my $rendezvous = <<'LUA';
local id = tostring({}):match("0x%x+") or tostring({})
function main(env, req)
  local file = env.ARRIVALS
  local f = assert(io.open(file, "a")) f:write(id, "\n") f:close()
  local want, met = tonumber(env.WANT), false
  for i = 1, 500 do
    local n = 0
    for _ in io.lines(file) do n = n + 1 end
    if n >= want then met = true break end
    os.execute("sleep 0.02")
  end
  req:puts(met and "met " or "alone ", id)
end
LUA

my $whoami = <<'LUA';
local id = tostring({}):match("0x%x+") or tostring({})
function main(env, req) os.execute("sleep 0.05") req:puts(id) end
LUA

# Send every request first, then read every answer: all are in flight at once.
sub concurrent {
    my ($t, $n, %params) = @_;
    my @socks;
    for (1 .. $n) {
        my $s = $t->connect or die "connect: $!";
        LFTest::write_all($s, LFTest::encode_request({ REQUEST_METHOD => 'GET', %params }, ''));
        push @socks, $s;
    }
    return map { LFTest::read_response($_, timeout => 30) } @socks;
}

{
    my $t = LFTest->new(conf => { workers => 4, loglevel => 'debug' },
                        scripts => { 'meet.lua' => $rendezvous, 'who.lua' => $whoami });
    $t->start;
    my @r = concurrent($t, 4, SCRIPT_FILENAME => $t->www . '/meet.lua',
                       ARRIVALS => $t->dir . '/arrivals', WANT => 4);
    is(scalar(grep { $_->{body} =~ /^met / } @r), 4,
       'four concurrent requests to one slow script all run at once (clones)');
    my %ids = map { ($_->{body} =~ /(\S+)$/)[0] => 1 } @r;
    is(scalar(keys %ids), 4, 'in four different states');
    $t->stop;
}

{
    my $t = LFTest->new(conf => { workers => 4, clones => 1 }, scripts => { 'who.lua' => $whoami });
    $t->start;
    my @r = concurrent($t, 4, SCRIPT_FILENAME => $t->www . '/who.lua');
    is(scalar(grep { $_->{status} == 200 } @r), 4, 'with clones = 1, four concurrent requests are all answered');
    my %ids = map { $_->{body} => 1 } @r;
    is(scalar(keys %ids), 1, 'by one state, one after another (the others waited for it)');
    $t->stop;
}

{
    my $t = LFTest->new(conf => { workers => 1, states => 2 },
                        scripts => { 'a.lua' => $counter, 'b.lua' => $counter, 'c.lua' => $counter });
    $t->start;
    $t->get('a.lua') for 1 .. 3;
    is($t->get('b.lua')->{body}, '1', 'states = 2: a (3 hits) and b (1 hit) loaded');
    is($t->get('c.lua')->{body}, '1', 'a third script loads, evicting one');
    is($t->get('a.lua')->{body}, '4', 'the popular script kept its state');
    is($t->get('b.lua')->{body}, '1', 'the least used script was evicted and starts over');
    $t->stop;
}

{
    my $t = LFTest->new(conf => { workers => 2, sweep => 100, loglevel => 'debug' },
                        scripts => { 'v.lua' => "function main(env, req) req:puts('version 1') end\n",
                                     'n.lua' => $counter });
    $t->start;
    is($t->get('v.lua')->{body}, 'version 1', 'a script before an edit');
    $t->script('v.lua', "function main(env, req) req:puts('version two') end\n");
    is($t->get('v.lua')->{body}, 'version two', 'the edited script is served at the next request');

    is($t->get('n.lua')->{body}, '1', 'a counter state is loaded');
    $t->script('n.lua', $counter . "-- edited\n");
    ok($t->wait_log(qr/housekeeping: closed 1 stale or idle states/, 5),
       'the housekeeping sweep closes the idle state of an edited script');
    unlink $t->www . '/v.lua';
    ok($t->wait_log(qr/housekeeping: closed 1 stale or idle states(?s:.*)housekeeping: closed 1 stale/, 5),
       'and the state of a script that vanished');
    is($t->get('v.lua')->{status}, 404, 'a vanished script is a 404');
    $t->stop;
}

{
    my $t = LFTest->new(conf => { workers => 1, sweep => 50, maxidle => 1, loglevel => 'debug' },
                        scripts => { 'n.lua' => $counter });
    $t->start;
    is($t->get('n.lua')->{body}, '1', 'maxidle: a state is loaded');
    is($t->get('n.lua')->{body}, '2', 'and reused while busy');
    ok($t->wait_log(qr/housekeeping: closed 1 stale or idle states/, 5), 'after maxidle seconds idle it is closed');
    is($t->get('n.lua')->{body}, '1', 'the next request loads it again');
    $t->stop;
}

{
    my $t = LFTest->new(conf => { workers => 1, maxrequests => 2 }, scripts => { 'n.lua' => $counter });
    $t->start;
    is(join(',', map { $t->get('n.lua')->{body} } 1 .. 5), '1,2,1,2,1', 'maxrequests = 2 recycles a state every two requests');
    $t->stop;
}

{
    my $t = LFTest->new(conf => { workers => 1 });
    my $marker = $t->dir . '/loaded';
    my $pre = $t->script('pre.lua', "loads = 0\nlocal f = io.open('$marker', 'a') f:write('x') f:close()\n"
                                  . "function main(env, req) req:puts(slurped or 'warm') end\n");
    $t->write_conf(preload => [$pre, $t->www . '/missing.lua']);
    $t->start;
    is(slurp($marker), 'x', 'preload: the script was loaded at start-up, before any request');
    ok($t->wait_log(qr/preload \S+missing\.lua: No such file/), 'a preload script that is missing is logged');
    is($t->get('pre.lua')->{body}, 'warm', 'the first request uses the preloaded state');
    is(slurp($marker), 'x', 'without loading the script a second time');
    $t->stop;

    # a preload spelled with '.' and '//' is the state of the script's requests
    unlink $marker;
    $t->write_conf(preload => [$t->www . '/.//pre.lua']);
    $t->start;
    is(slurp($marker), 'x', "preload: a path with '.' and '//' is loaded at start-up");
    is($t->get('pre.lua')->{body}, 'warm', 'a request spelling it plainly uses that state');
    is(slurp($marker), 'x', 'without loading the script a second time');
    $t->stop;
}

done_testing;
