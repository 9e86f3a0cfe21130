# A script's compiled chunk is kept for its next states: a state loaded
# from it behaves as one compiled from the file, and a file that changed
# (or a HUP) is compiled again, exactly as a state is loaded again.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for spew);

# With one state, each request to the other script evicts this one: its
# next request opens a new state, from the kept chunk.
my $t = LFTest->new(conf => { workers => 1, states => 1, showerrors => 1 });
my $a = $t->script('a.lua', <<'LUA');
local v = "one"
local n = 0
function main(env, req)
  n = n + 1
  local s = debug.getinfo(1, "S")
  req:puts(v, " ", n, " ", s.source, " ", s.short_src, ":", debug.getinfo(1, "l").currentline, " ", top)
end
top = ...
function main2() end
LUA
$t->script('b.lua', "function main(env, req) req:puts('b') end\n");
$t->script('err.lua', <<'LUA');
local function inner() error("boom") end
function main(env, req)
  local ok, e = pcall(inner)
  req:puts(e, "\n", debug.traceback("tb", 1))
end
LUA
$t->script('syntax.lua', "function main(env, req) req:puts('x' end\n");
# the first line skipped as luaL_loadfile skips it; line numbers kept
$t->script('bang.lua', "#!/usr/bin/env lua\nfunction main(env, req) req:puts(debug.getinfo(1, 'l').currentline) end\n");
$t->start;

sub body { my ($name) = @_; my $r = $t->get($name); return $r->{body} }
sub evicted { my ($name) = @_; is(body('b.lua'), 'b', "another script takes the one state (before $name)"); return body($name) }

my $first = body('a.lua');
like($first, qr{^one 1 \@\Q$a\E \S*a\.lua:6 a$}, 'compiled from the file: its source, name and line');
is(evicted('a.lua'), $first, 'a new state from the kept chunk: the same top level, source and lines');
is(evicted('a.lua'), $first, 'and again');

my $e1 = body('err.lua');
like($e1, qr{err\.lua:1: boom}, 'an error names the file and line');
is(evicted('err.lua'), $e1, 'the same error and traceback from the kept chunk');

for (1 .. 2) {
    my $r = $t->get('syntax.lua');
    is($r->{status}, 500, "a syntax error, each time ($_)");
    like($t->log, qr{syntax\.lua:1: .*'\)' expected}, 'the log says where');
    is(body('b.lua'), 'b', 'another script takes the one state');
}
is(body('bang.lua'), '2', 'a #! line is skipped, lines kept');
is(evicted('bang.lua'), '2', 'and from the kept chunk');

# Same size, new content: the identity (mtime) differs, so it is compiled again.
my $src = LFTest::slurp($a);
(my $two = $src) =~ s/"one"/"two"/;
spew($a, $two);
my $when = time + 5;     # whole seconds: the mtime can be set back exactly
utime $when, $when, $a;
like(evicted('a.lua'), qr{^two 1 }, 'a changed file (same size) is compiled again');

# A HUP drops every state and every kept chunk. A file changed in place
# with its size and mtime restored keeps its identity: neither a state
# nor a chunk notices it, until the HUP.
spew($a, $src);
$when += 5;
utime $when, $when, $a;
like(evicted('a.lua'), qr{^one 1 }, 'a file whose identity changed back is compiled again');
spew($a, $two);
utime $when, $when, $a;
like(evicted('a.lua'), qr{^one 1 }, 'same identity: the kept chunk is used, as the state would be');
$t->signal('HUP');
ok($t->wait_log(qr/reloaded /, 10), 'HUP reloads');
like(body('a.lua'), qr{^two 1 }, 'after a HUP the file is compiled again');

# Many scripts, few states, two workers at once: every answer is its own script's.
my $m = LFTest->new(conf => { workers => 2, states => 2 });
$m->script("s$_.lua", "local me = $_\nfunction main(env, req) req:puts(me) end\n") for 1 .. 20;
$m->start;
my $clients = LFTest::start_clients(2, sub {
    my ($i) = @_;
    my $bad = 0;
    for my $k (1 .. 200) {
        my $n = 1 + ($k * 7 + $i) % 20;
        my $r = $m->get("s$n.lua");
        $bad++ unless $r->{body} eq $n;
    }
    return "bad $bad";
});
is_deeply([LFTest::wait_clients($clients, 60)], ['bad 0', 'bad 0'], 'concurrent loads from kept chunks answer for their own script');
$m->stop;
$t->stop;
done_testing;
