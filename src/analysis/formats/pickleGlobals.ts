// Which globals a pickle may name, and what each is. Two lists with different jobs:
// - the torch allow-list (modelled on torch.load(weights_only=True)): callables our machine gives
//   a fixed, data-only meaning (tensor rebuilds, dtypes, storages, OrderedDict…);
// - the risk classification of every other global: known plain-data classes, names we know
//   nothing about ("unknown", never "safe"), and callables that run code under
//   torch.load(weights_only=False) ("dangerous": a union of the picklescan, modelscan and
//   fickling deny-lists, see research/anchors.md §2). The deny-list only labels: safety comes
//   from never calling anything.
import type { DType } from '../core/dtype';
import { PyGlobal } from './pickleObjects';


/** torch dtype globals → our dtype names (undefined: allowed, but no element decoder). */
const DTYPE_GLOBALS: Record<string, DType | undefined> = {
  float32: 'F32', float: 'F32', float64: 'F64', double: 'F64', float16: 'F16', half: 'F16', bfloat16: 'BF16',
  int64: 'I64', long: 'I64', int32: 'I32', int: 'I32', int16: 'I16', short: 'I16', int8: 'I8', uint8: 'U8',
  uint16: 'U16', uint32: 'U32', uint64: 'U64', bool: 'BOOL',
  complex64: 'C64', cfloat: 'C64', complex128: 'C128', cdouble: 'C128',
  float8_e4m3fn: 'F8_E4M3', float8_e5m2: 'F8_E5M2', float8_e4m3fnuz: 'F8_E4M3FNUZ', float8_e5m2fnuz: 'F8_E5M2FNUZ',
  float8_e8m0fnu: 'F8_E8M0',
  complex32: undefined, chalf: undefined, qint8: undefined, quint8: undefined, qint32: undefined,
  quint4x2: undefined, quint2x4: undefined, bits1x8: undefined, bits2x4: undefined, bits4x2: undefined,
  bits8: undefined, bits16: undefined,
  uint1: undefined, uint2: undefined, uint3: undefined, uint4: undefined, uint5: undefined, uint6: undefined, uint7: undefined,
  int1: undefined, int2: undefined, int3: undefined, int4: undefined, int5: undefined, int6: undefined, int7: undefined,
};

/** Storage classes → element type. Quantized storages hold raw integers of that width. */
const STORAGE_GLOBALS: Record<string, DType> = {
  DoubleStorage: 'F64', FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8',
  BoolStorage: 'BOOL', ComplexDoubleStorage: 'C128', ComplexFloatStorage: 'C64',
  QInt8Storage: 'I8', QUInt8Storage: 'U8', QInt32Storage: 'I32', QUInt4x2Storage: 'U8', QUInt2x4Storage: 'U8',
  UntypedStorage: 'U8',
};

export const TENSOR_REBUILDS = new Set([
  'torch._utils._rebuild_tensor', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor_v3',
  'torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state', 'torch._utils._rebuild_qtensor',
]);

/** Allowed by weights_only, kept inert here (sparse, nested, meta and device tensors). */
export const INERT_REBUILDS = new Set([
  'torch._utils._rebuild_sparse_tensor', 'torch._utils._rebuild_sparse_csr_tensor', 'torch._utils._rebuild_nested_tensor',
  'torch._utils._rebuild_meta_tensor_no_storage', 'torch._utils._rebuild_wrapper_subclass',
  'torch._utils._rebuild_device_tensor_from_numpy', 'torch._utils._rebuild_device_tensor_from_cpu_tensor',
]);

const CLASSES = new Set([
  'collections.OrderedDict', 'collections.Counter', 'builtins.set', 'builtins.frozenset', 'builtins.bytearray',
  'builtins.complex', 'torch.Size', 'torch.device', 'torch.Tensor', 'torch.nn.parameter.Parameter',
  ...['Double', 'Float', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool'].map((t) => `torch.${t}Tensor`),
]);

const FUNCTIONS = new Set([
  '_codecs.encode', 'torch.serialization._get_layout', 'torch._tensor._rebuild_from_type_v2',
  ...TENSOR_REBUILDS, ...INERT_REBUILDS,
]);

const CONSTANTS = new Set([
  'torch.strided', 'torch.sparse_coo', 'torch.sparse_csr', 'torch.sparse_csc', 'torch.sparse_bsr', 'torch.sparse_bsc',
  'torch._mkldnn', 'torch.jagged',
  'torch.per_tensor_affine', 'torch.per_tensor_symmetric', 'torch.per_channel_affine', 'torch.per_channel_symmetric',
  'torch.per_channel_affine_float_qparams',
]);

/**
 * Python 2 module names that Python 3's unpickler renames (fix_imports, `_compat_pickle`), so a
 * refused global is named as Python would load it: protocol-2 pickles of `subprocess.Popen`
 * say `commands.Popen`.
 */
const PY2_MODULES = new Map([
  ['__builtin__', 'builtins'], ['copy_reg', 'copyreg'], ['commands', 'subprocess'], ['cPickle', 'pickle'],
  ['exceptions', 'builtins'], ['Queue', 'queue'], ['StringIO', 'io'], ['cStringIO', 'io'], ['UserDict', 'collections'],
  ['UserList', 'collections'], ['UserString', 'collections'], ['urllib2', 'urllib.request'], ['thread', '_thread'],
  ['repr', 'reprlib'], ['__main__', '__main__'],
]);

/**
 * Plain-data classes and functions outside torch's allow-list: instantiating them under
 * torch.load runs only their own well-known library code, and they hold data we can show.
 * numpy's array/scalar/dtype rebuilds are decoded by the machine into tensors and values.
 */
const DATA_GLOBALS = new Set([
  'argparse.Namespace',
  'collections.defaultdict', 'collections.deque', 'collections.namedtuple',
  'datetime.datetime', 'datetime.date', 'datetime.time', 'datetime.timedelta', 'datetime.timezone',
  'pathlib.Path', 'pathlib.PosixPath', 'pathlib.WindowsPath', 'pathlib.PurePath', 'pathlib.PurePosixPath', 'pathlib.PureWindowsPath',
  'builtins.object', 'builtins.dict', 'builtins.list', 'builtins.tuple', 'builtins.int', 'builtins.float', 'builtins.str',
  'builtins.bool', 'builtins.bytes', 'builtins.slice', 'builtins.range', 'builtins.NoneType', 'builtins.Ellipsis',
  'copyreg._reconstructor', 'copyreg.__newobj__',
  'enum.Enum', 'enum.IntEnum', 'enum.Flag', 'enum.IntFlag',
  'uuid.UUID', 'fractions.Fraction', 'decimal.Decimal',
  'omegaconf.dictconfig.DictConfig', 'omegaconf.listconfig.ListConfig', 'omegaconf.base.ContainerMetadata',
  'omegaconf.base.Metadata', 'omegaconf.nodes.AnyNode', 'omegaconf.nodes.StringNode', 'omegaconf.nodes.IntegerNode',
  'omegaconf.nodes.FloatNode', 'omegaconf.nodes.BooleanNode', 'omegaconf.nodes.EnumNode', 'omegaconf.nodes.BytesNode',
  'omegaconf.nodes.PathNode', 'omegaconf.nodes.ValueNode',
  'lightning_fabric.utilities.data.AttributeDict', 'lightning.fabric.utilities.data.AttributeDict',
  'pytorch_lightning.utilities.parsing.AttributeDict', 'lightning.pytorch.utilities.parsing.AttributeDict',
  'torch.dtype', 'torch.finfo', 'torch.iinfo', 'torch.memory_format', 'torch.contiguous_format', 'torch.channels_last',
  'torch.preserve_format', 'torch.layout',
  ...['numpy.core.multiarray', 'numpy._core.multiarray'].flatMap((m) => [`${m}._reconstruct`, `${m}.scalar`]),
  'numpy.ndarray', 'numpy.dtype', 'numpy.core.numeric._frombuffer', 'numpy._core.numeric._frombuffer',
  'numpy.random._pickle.__randomstate_ctor', 'numpy.random._pickle.__bit_generator_ctor', 'numpy.random._pickle.__generator_ctor',
  'numpy.random._mt19937.MT19937', 'numpy.random._pcg64.PCG64', 'numpy.random.mtrand.RandomState', 'numpy.random._generator.Generator',
]);

/** Dict subclasses that behave as plain dicts: shown as dicts (their items are the data). */
export const DICT_CLASSES = new Set([
  'collections.defaultdict',
  'lightning_fabric.utilities.data.AttributeDict', 'lightning.fabric.utilities.data.AttributeDict',
  'pytorch_lightning.utilities.parsing.AttributeDict', 'lightning.pytorch.utilities.parsing.AttributeDict',
]);

/** Modules any of whose globals runs code or touches the system when called. */
const DANGEROUS_MODULES = [
  'os', 'posix', 'nt', 'subprocess', 'importlib', 'runpy', 'marshal', 'pickle', '_pickle', 'shutil', 'socket',
  'webbrowser', 'sys', 'code', 'codeop', 'ctypes', 'pty', 'pdb', 'bdb', 'asyncio', 'multiprocessing', 'signal',
  'types', 'pkgutil', 'inspect', 'imp', 'zipimport', 'pip', 'setuptools', 'distutils', 'urllib', 'http', 'httplib',
  'requests', 'aiohttp', 'ftplib', 'smtplib', 'telnetlib', 'platform', 'tempfile', 'io', '_io', 'builtins', '_thread',
  'threading', 'cProfile', 'profile', 'timeit', 'trace', 'doctest', 'operator', 'functools', 'dill', 'cloudpickle',
  'joblib', 'torch._C', 'torch.hub', 'torch.ops', 'torch.utils.cpp_extension', 'torch._dynamo', 'torch.package',
  'numpy.testing', 'numpy.f2py', 'numpy.distutils', 'numpy.load', 'glob', 'fileinput', 'linecache', 'mmap', 'select',
];

/** Single names that run code (outside the modules above). */
const DANGEROUS_GLOBALS = new Set([
  'torch.load', 'torch.jit.load', 'torch.serialization.load', 'torch.storage._load_from_bytes', 'torch.jit._load_for_lite_interpreter',
  'torch.serialization._load', 'torch.classes.load_library', 'numpy.load', 'numpy.loadtxt', 'numpy.fromfile', 'numpy.save',
  'torch.save', 'torch.compile', 'torch.jit.script', 'torch.jit.trace', 'copyreg._reconstructor_unsafe',
]);

export type Risk = 'tensor' | 'data' | 'unknown' | 'dangerous';

/** The risk class of a global's qualified name (module already Python-3 normalised). */
export function classifyGlobal(module: string, name: string): Risk {
  const path = `${module}.${name}`;
  if (DANGEROUS_GLOBALS.has(path)) return 'dangerous';
  if (DATA_GLOBALS.has(path)) return 'data';
  for (const m of DANGEROUS_MODULES) if (module === m || module.startsWith(`${m}.`)) return 'dangerous';
  // Dunder attributes and dotted names (`os.path.join` written as module `x`, name `a.b`) reach code.
  if (name.includes('.') || /^__.*__$/.test(name)) return 'dangerous';
  return 'unknown';
}

/** Resolves a global: allow-listed names get their torch role, every other one its risk class. */
/**
 * Python 2 (module, name) pairs Python 3's unpickler maps to other names (`_compat_pickle.NAME_MAPPING`):
 * protocol-2 pickles of the type `int` say `__builtin__ long` (OmegaConf's node metadata does).
 */
const PY2_NAMES = new Map([
  ['__builtin__.long', ['builtins', 'int']], ['__builtin__.unicode', ['builtins', 'str']], ['__builtin__.xrange', ['builtins', 'range']],
  ['__builtin__.unichr', ['builtins', 'chr']], ['__builtin__.basestring', ['builtins', 'str']], ['__builtin__.reduce', ['functools', 'reduce']],
  ['__builtin__.intern', ['sys', 'intern']], ['itertools.izip', ['builtins', 'zip']], ['itertools.imap', ['builtins', 'map']],
  ['itertools.ifilter', ['builtins', 'filter']], ['itertools.ifilterfalse', ['itertools', 'filterfalse']],
  ['itertools.izip_longest', ['itertools', 'zip_longest']], ['UserDict.IterableUserDict', ['collections', 'UserDict']],
  ['exceptions.StandardError', ['builtins', 'Exception']],
]);

/** The (module, name) a pickle's global stands for in Python 3. */
export function normaliseGlobal(module: string, name: string): [string, string] {
  const mapped = PY2_NAMES.get(`${module}.${name}`);
  if (mapped) return [mapped[0], mapped[1]];
  return [PY2_MODULES.get(module) ?? module, name];
}

export function resolveGlobal(module: string, name: string): PyGlobal {
  [module, name] = normaliseGlobal(module, name);
  const path = `${module}.${name}`;
  const own = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
  if (module === 'torch' && own(DTYPE_GLOBALS, name)) return new PyGlobal(module, name, 'dtype');
  if ((module === 'torch' || module === 'torch.cuda' || module === 'torch.storage') && own(STORAGE_GLOBALS, name)) {
    return new PyGlobal(module, name, 'storage');
  }
  if (CLASSES.has(path)) return new PyGlobal(module, name, 'class');
  if (FUNCTIONS.has(path)) return new PyGlobal(module, name, 'function');
  if (CONSTANTS.has(path)) return new PyGlobal(module, name, 'constant');
  const risk = classifyGlobal(module, name);
  return new PyGlobal(module, name, risk === 'tensor' ? 'unknown' : risk);
}

/** The risk class of a resolved global. */
export function riskOf(g: PyGlobal): Risk {
  if (g.role === 'data' || g.role === 'unknown' || g.role === 'dangerous') return g.role;
  return 'tensor';
}

export function dtypeOfGlobal(g: PyGlobal): DType | undefined {
  if (g.role === 'dtype') return DTYPE_GLOBALS[g.name];
  if (g.role === 'storage') return STORAGE_GLOBALS[g.name];
  return undefined;
}


