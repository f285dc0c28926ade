'use strict';
// One import for test files: require('./lib').
module.exports = {
  ...require('./wait'),
  ...require('./relay'),
  ...require('./clients'),
  ...require('./http'),
};
